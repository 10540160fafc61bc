"""Where Hydra looks for config: the built-in groups, and nothing a recipe adds (a recipe's
own ``hydra.searchpath`` could pull any YAML on disk into the config: see docs/security.md)."""

from __future__ import annotations

from pathlib import Path


def builtin_conf_dir() -> Path:
    """The built-in config groups (source/, split/, model/...), wherever engine is installed."""
    import engine

    return Path(engine.__file__).resolve().parent / "conf"


def sous_searchpath() -> tuple[str, ...]:
    """Hydra's search path as Sous sets it: the built-in groups (the recipe's own directory
    is Hydra's primary config directory). Nothing else may be added."""
    return (f"file://{builtin_conf_dir()}",)
