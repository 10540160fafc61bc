"""Name what to serve: a model name (its production, else staging, else latest version), a
``NAME:VERSION`` from the registry, or a Bento tag; list versions; export a Bento."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from engine.errors import NotFoundError, RunError
from engine.serving._bentoml import bentoml
from engine.serving.types import BuildResult, ModelVersion
from engine.store import registry


def _bento_exists(tag: str) -> str | None:
    bm = bentoml()
    try:
        return str(bm.bentos.get(tag).tag)
    except (bm.exceptions.NotFound, bm.exceptions.BentoMLException, ValueError):
        return None


def bento_exists(tag: str) -> bool:
    return _bento_exists(tag) is not None


def _version_bento(name: str, version: str) -> str:
    rec = registry.get_version(name, version)
    if not rec.bento_tag or _bento_exists(rec.bento_tag) is None:
        raise NotFoundError(
            f"model {name!r} version {version!r} has no Bento in the store",
            hint=f"rebuild it with `sous build {name}` after promoting, or re-run the recipe",
        )
    return rec.bento_tag


def resolve_version(target: str) -> tuple[str, str]:
    """``NAME`` or ``NAME:VERSION`` -> (name, version) from the registry."""
    name, _, version = target.partition(":")
    if version:
        return name, registry.get_version(name, version).version
    for alias in ("production", "staging"):
        found = registry.get_alias(name, alias)
        if found:
            return name, found
    known = registry.versions(name)
    if not known:
        raise NotFoundError(
            f"no model named {name!r} in the registry",
            hint="run a recipe that packages it (`sous run RECIPE`), or give a Bento tag",
        )
    return name, registry.latest_smoke_tested(name)  # never a version that failed or skipped it


def resolve_target(target: str) -> str:
    """The Bento tag to serve for ``target``; NotFoundError when it names nothing."""
    if not target:
        raise NotFoundError("empty serve target", hint="give a model name or a Bento tag")
    name, _, version = target.partition(":")
    in_registry = bool(registry.versions(name))
    if in_registry and version not in ("", "latest"):
        try:
            return _version_bento(name, version)
        except NotFoundError:
            direct = _bento_exists(target)  # a Bento tag of the same name (e.g. an A/B Bento)
            if direct:
                return direct
            raise
    if in_registry:
        if version == "latest":
            return _version_bento(name, registry.versions(name)[-1].version)
        return _version_bento(*resolve_version(name))
    direct = _bento_exists(target)
    if direct:
        return direct
    raise NotFoundError(
        f"{target!r} names no model in the registry and no Bento in the store",
        hint="see `sous models ls NAME` or `bentoml list`",
    )


def list_versions(name: str) -> list[ModelVersion]:
    """Versions of ``name``, oldest first, with their aliases, metrics and labels."""
    recs = registry.versions(name)
    if not recs:
        raise NotFoundError(
            f"no model named {name!r} in the registry",
            hint=f"known models: {', '.join(registry.names()) or 'none yet'}",
        )
    by_version: dict[str, list[str]] = {}
    for alias, version in registry.aliases(name).items():
        by_version.setdefault(version, []).append(alias)
    return [
        ModelVersion(
            name=r.name,
            version=r.version,
            created=r.created_at,
            aliases=tuple(sorted(by_version.get(r.version, []))),
            metrics=dict(r.metrics),
            labels=dict(r.labels),
            bento_tag=r.bento_tag,
        )
        for r in recs
    ]


def build(name: str, version: str | None = None, *, out_dir: Path) -> BuildResult:
    """Write the Bento of ``name`` (its production/staging/latest version, or ``version``)
    to ``out_dir``: the Bento directory with its Dockerfile, and a ``.bento`` archive that
    ``bentoml import`` (or ``bentoml containerize`` on a machine with Docker) accepts."""
    bm = bentoml()
    tag = resolve_target(f"{name}:{version}" if version else name)
    bento = bm.bentos.get(tag)
    out_dir = Path(out_dir).expanduser().resolve()  # BentoML reads relative paths from /
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{bento.tag.name}-{bento.tag.version}"
    directory = out_dir / stem
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(bento.path, directory)
    dockerfile = _dockerfile(directory)
    archive = out_dir / f"{stem}.bento"
    archive.unlink(missing_ok=True)
    bm.bentos.export_bento(tag, str(archive))
    warnings = container_warnings(dict(bento.info.labels))
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr, flush=True)
    return BuildResult(str(bento.tag), str(directory), str(dockerfile), str(archive), warnings)


def container_warnings(labels: dict[str, str]) -> tuple[str, ...]:
    """A container serves on all its interfaces: say what that exposes."""
    if labels.get("auth_token_env"):
        return ()
    return (
        "this image serves /predict WITHOUT AUTHENTICATION on every interface of the "
        "container: set deploy.auth_token_env in the recipe (and re-run it), or keep the "
        "container on a private network behind an authenticating proxy",
    )


def _dockerfile(directory: Path) -> Path:
    """The Dockerfile ``bentoml build`` generated (``bentoml containerize`` uses it)."""
    path = directory / "env" / "docker" / "Dockerfile"
    if not path.exists():
        raise RunError(f"Bento at {directory} has no generated Dockerfile at {path}", step="build")
    return path
