"""The data steps the plan calls: load (masked), fingerprint, integrate, validate, profile.

Plain functions over specs and frames. Registries default to the built-ins plus entry
points; tests pass their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.data.integrate import IntegrateResult, StepCount, integrate_frames
from engine.data.profile import ColumnProfile, DataProfile, profile_frame
from engine.errors import SourceError
from engine.validation import CheckRegistry, ValidationResult, validate_frame

if TYPE_CHECKING:
    import pandas as pd

    from engine.data.sources import SourceRegistry
    from engine.specs import DataSpec, SchemaSpec, SourceSpec

__all__ = [
    "ColumnProfile",
    "DataProfile",
    "IntegrateResult",
    "StepCount",
    "ValidationResult",
    "fingerprint",
    "integrate",
    "load",
    "profile",
    "validate",
]


def load(
    source: SourceSpec,
    *,
    pii: Mapping[str, str],
    salt_env: str,
    registry: SourceRegistry | None = None,
) -> pd.DataFrame:
    """Read ``source`` (retrying transient errors) and mask PII before anything can persist it."""
    from engine.data.pii import check_pii, mask
    from engine.data.sources import read_source

    check_pii(pii)
    frame = read_source(source, registry)
    return mask(frame, pii, salt_env=salt_env)


def fingerprint(source: SourceSpec, *, registry: SourceRegistry | None = None) -> str:
    """Content fingerprint of the source's data for the cache key (never mtime)."""
    from engine.data.fingerprint import fingerprint_source

    try:
        return fingerprint_source(source, registry)
    except OSError as exc:
        raise SourceError(source.name, f"cannot fingerprint: {type(exc).__name__}: {exc}") from exc


def integrate(frames: Mapping[str, pd.DataFrame], data: DataSpec) -> IntegrateResult:
    """Join/union/as-of/dedupe the sources, then rename, cast and dedupe; counts per step."""
    return integrate_frames(frames, data)


def validate(
    frame: pd.DataFrame, schema: SchemaSpec, *, target: str, checks: CheckRegistry | None = None
) -> ValidationResult:
    """Schema checks under the schema's policy; quarantined rows travel as artifacts."""
    return validate_frame(frame, schema, target=target, registry=checks)


def profile(frame: pd.DataFrame, *, target: str) -> DataProfile:
    """Per-column statistics: the reference for drift detection."""
    return profile_frame(frame, target=target)
