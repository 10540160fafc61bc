"""Composed OmegaConf config -> plain Python values, one key at a time.

``OmegaConf.to_container(resolve=True)`` stops at the first broken interpolation; walking the
tree key by key instead turns each ``???`` into the :data:`MISSING` sentinel (reported later
with its key path) and each failing ``${...}`` into its own problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.recipe.problems import BROKEN, MISSING, Issues, join


def to_plain(cfg: Any, issues: Issues, path: str = "") -> Any:
    """A plain dict/list/scalar copy of ``cfg`` (a DictConfig or plain containers), resolved."""
    from omegaconf import DictConfig, ListConfig

    if isinstance(cfg, DictConfig):
        out: dict[str, Any] = {}
        for key in cfg:
            out[str(key)] = _child(cfg, key, join(path, str(key)), issues)
        return out
    if isinstance(cfg, ListConfig):
        return [_child(cfg, i, join(path, i), issues) for i in range(len(cfg))]
    if isinstance(cfg, Mapping):
        return {str(k): to_plain(v, issues, join(path, str(k))) for k, v in cfg.items()}
    if isinstance(cfg, list | tuple):
        return [to_plain(v, issues, join(path, i)) for i, v in enumerate(cfg)]
    return MISSING if cfg == "???" else cfg


def _child(node: Any, key: Any, path: str, issues: Issues) -> Any:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if OmegaConf.is_missing(node, key):
        return MISSING
    try:
        value = node[key]
    except OmegaConfBaseException as exc:
        message = str(exc).splitlines()[0]
        issues.add(path, f"cannot resolve value: {message}", hint="fix the ${...} interpolation")
        return BROKEN
    return to_plain(value, issues, path)
