"""Where a served model's monitoring inputs are: its version, reference, logs and feedback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.drift.reference import REFERENCE_FILE, Reference, load
from engine.errors import NotFoundError, UserError


@dataclass(frozen=True)
class Target:
    """One version of a model and the files monitoring reads for it."""

    name: str
    version: str
    model_tag: str
    labels: dict[str, str]
    log_dir: Path
    feedback_dir: Path


def serving_dir(name: str) -> Path:
    from engine.home import sous_home

    return sous_home() / "serving" / name


def request_log_dir(name: str) -> Path:
    """Served traffic only: the smoke test logs to ``smoke-requests`` beside it."""
    return serving_dir(name) / "requests"


def feedback_dir(name: str) -> Path:
    return serving_dir(name) / "feedback"


def default_version(name: str) -> str:
    """The version monitored when none is named: production, else staging, else the newest."""
    from engine.store import registry

    for alias in ("production", "staging"):
        version = registry.get_alias(name, alias)
        if version is not None:
            return version
    versions = registry.versions(name)
    if not versions:
        raise NotFoundError(
            f"model {name!r} has no versions", hint="run its recipe first: `sous run RECIPE`"
        )
    return max(versions, key=lambda v: v.created_at).version


def locate(name: str, version: str | None = None) -> Target:
    from engine.store import registry

    record = registry.get_version(name, version or default_version(name))
    return Target(
        name=name,
        version=record.version,
        model_tag=record.model_tag,
        labels=dict(record.labels),
        log_dir=request_log_dir(name),
        feedback_dir=feedback_dir(name),
    )


def reference_of(target: Target) -> Reference:
    """The reference stored in the version's BentoML model."""
    from engine.home import bentoml_home

    name, _, version = target.model_tag.partition(":")
    path = bentoml_home() / "models" / name / version / REFERENCE_FILE  # BentoML's layout
    if not path.is_file():  # another layout: ask BentoML (an import of seconds)
        from engine.serving.packaging import model_info

        path = Path(model_info(target.model_tag).path) / REFERENCE_FILE
    if not path.is_file():
        raise UserError(
            f"{target.name}:{target.version} has no monitoring reference "
            "(it was packaged without one)",
            hint="re-run its recipe to package a version with a reference: "
            f"`sous retrain {target.name}`",
        )
    return load(path)
