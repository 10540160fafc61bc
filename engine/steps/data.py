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

    from engine.data.ooc import OocResult
    from engine.data.ooc_split import PartitionedSplit, Sample
    from engine.data.sources import SourceRegistry
    from engine.specs import DataSpec, SchemaSpec, SourceSpec, SplitSpec

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
    from engine.data.pii import check_pii
    from engine.data.sources import read_source

    check_pii(pii)  # before the read: a wrong PII spec costs no query
    return masked(read_source(source, registry), pii=pii, salt_env=salt_env)


def masked(frame: pd.DataFrame, *, pii: Mapping[str, str], salt_env: str) -> pd.DataFrame:
    """What :func:`load` returns for rows already read: PII masked (hash, drop, redact)."""
    from engine.data.pii import check_pii, mask

    check_pii(pii)
    return mask(frame, pii, salt_env=salt_env)


def fingerprint(source: SourceSpec, *, registry: SourceRegistry | None = None) -> str:
    """Content fingerprint of the source's data for the cache key (never mtime)."""
    from engine.data.sources import fingerprint_with_retries

    try:  # through the retry loop: an unreachable database is retried like a read
        return fingerprint_with_retries(source, registry)
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


# Out of core (data.out_of_core): ingest, validate and split partition by partition --------


def ingest_out_of_core(
    source: SourceSpec,
    *,
    lookups: Mapping[str, pd.DataFrame],
    data: DataSpec,
    schema: SchemaSpec,
    target: str,
    workdir: str,
) -> OocResult:
    """The base source, masked, joined to the small ``lookups`` and validated, one partition
    at a time, into ``workdir``/good (and quarantine, failures)."""
    from engine.data.ooc import ingest_partitioned, row_local_transform

    blocksize = data.out_of_core.blocksize if data.out_of_core else "64MB"
    return ingest_partitioned(
        source,
        schema,
        target=target,
        out_dir=workdir,
        pii=data.pii,
        salt_env=data.pii_salt_env,
        transform=row_local_transform(data, lookups),
        blocksize=blocksize,
    )


def split_out_of_core(
    ingested: OocResult, *, target: str, task: str, spec: SplitSpec, seed: int, workdir: str
) -> PartitionedSplit:
    """train/valid/test written partition by partition next to the validated rows."""
    from engine.data.ooc_split import split_partitioned

    return split_partitioned(
        ingested.good_dir, target=target, task=task, spec=spec, seed=seed, out_dir=workdir
    )


def sample_out_of_core(split: PartitionedSplit, *, sample_rows: int, seed: int) -> Sample:
    """At most ``sample_rows`` rows in memory, with their holdout positions, to train on."""
    from engine.data.ooc_split import load_sample
    from engine.steps.scale import mark

    sample = load_sample(split, sample_rows=sample_rows, seed=seed)
    mark(sample.frame, split.root)  # models of kind dask_xgboost/incremental train on all rows
    return sample
