"""Plain records exchanged by the serving layer (no BentoML import: cheap to import)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.data.kinds import DTYPES, feature_kind  # re-exported: the served types
from engine.specs import EMPTY

__all__ = ["DTYPES", "feature_kind"]


@dataclass(frozen=True)
class FeatureField:
    """One input column of the served model; becomes one typed field of the request record.

    ``nullable`` (the default) accepts JSON ``null`` as a missing value: Sous's pipelines
    impute, and a model that cannot take a missing value answers 422, not 500. Set it False
    to reject nulls with 400 at the door.
    """

    name: str
    dtype: str  # "float" | "int" | "str" | "bool" | "datetime" (an ISO 8601 string)
    nullable: bool = True


@dataclass(frozen=True)
class Packaged:
    """What :func:`engine.serving.package` made: the stored model and the Bento built on it."""

    model_tag: str
    bento_tag: str
    version: str
    bento_path: str


@dataclass(frozen=True)
class SmokeResult:
    passed: bool
    p99_ms: float | None
    n: int
    mismatches: int
    message: str


@dataclass(frozen=True)
class BuildResult:
    """A Bento exported for elsewhere: its directory, generated Dockerfile and archive."""

    bento_tag: str
    bento_path: str
    dockerfile: str
    archive: str
    warnings: tuple[str, ...] = ()  # what the image exposes (e.g. no auth), also printed


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    created: str
    aliases: tuple[str, ...] = ()
    metrics: Mapping[str, float] = EMPTY
    labels: Mapping[str, str] = EMPTY
    bento_tag: str | None = None


@dataclass(frozen=True)
class Experiment:
    """Traffic between two versions: ``ab`` splits ``share`` to the challenger, ``shadow``
    sends every request to both and returns only the champion's answer."""

    champion: str
    challenger: str
    mode: str = "ab"  # ab | shadow
    share: float = 0.1
    sticky_header: str = "x-sous-key"
    extra: Mapping[str, Any] = field(default_factory=dict)
