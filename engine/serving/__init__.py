"""Serving with BentoML: package a winner, build its Bento, serve it, smoke-test it.

Importing this package is cheap: BentoML, pandas and scikit-learn load only when a function
that needs them runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.serving.types import (
    BuildResult,
    Experiment,
    FeatureField,
    ModelVersion,
    Packaged,
    SmokeResult,
)

if TYPE_CHECKING:
    from engine.serving.server import BentoServer

__all__ = [
    "BentoServer",
    "BuildResult",
    "Experiment",
    "FeatureField",
    "ModelVersion",
    "Packaged",
    "SmokeResult",
    "bento_exists",
    "build",
    "code_version",
    "list_versions",
    "package",
    "package_experiment",
    "promote",
    "resolve_target",
    "rollback",
    "serve",
    "smoke",
]


def code_version() -> str:
    """A hash of the serving code: put it into a cached package step's key, so that a
    Bento built by older serving code is rebuilt instead of reused."""
    import hashlib

    digest = hashlib.sha256()
    here = Path(__file__).parent
    for path in sorted(here.rglob("*.py")):
        digest.update(str(path.relative_to(here)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def package(**kwargs: Any) -> Packaged:
    from engine.serving.packaging import package as _package

    return _package(**kwargs)


def package_experiment(name: str, experiment: Experiment) -> Packaged:
    from engine.serving.packaging import package_experiment as _pe

    return _pe(name, experiment)


def smoke(*args: Any, **kwargs: Any) -> SmokeResult:
    from engine.serving.smoketest import smoke as _smoke

    return _smoke(*args, **kwargs)


def bento_exists(bento_tag: str) -> bool:
    """Whether ``bento_tag`` is still in BentoML's store (a cached package step may be stale)."""
    from engine.serving.targets import bento_exists as _be

    return _be(bento_tag)


def resolve_target(target: str) -> str:
    from engine.serving.targets import resolve_target as _rt

    return _rt(target)


def list_versions(name: str) -> list[ModelVersion]:
    from engine.serving.targets import list_versions as _lv

    return _lv(name)


def build(name: str, version: str | None = None, *, out_dir: Path) -> BuildResult:
    from engine.serving.targets import build as _build

    return _build(name, version, out_dir=out_dir)


def serve(
    target: str,
    *,
    port: int,
    host: str = "127.0.0.1",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> int:
    """Serve ``target`` in the foreground (HTTPS with both TLS files); returns the exit code."""
    from engine.serving.server import serve as _serve

    return _serve(target, port=port, host=host, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)


def promote(name: str, version: str, alias: str) -> str | None:
    """Point ``alias`` (staging | production) of ``name`` at ``version``; returns the old one."""
    from engine.store import registry

    return registry.promote(name, version, alias)


def rollback(name: str) -> str:
    """Production of ``name`` back to its previous version; returns that version."""
    from engine.store import registry

    return registry.rollback(name)


def __getattr__(name: str) -> Any:
    if name == "BentoServer":
        from engine.serving.server import BentoServer

        return BentoServer
    raise AttributeError(name)
