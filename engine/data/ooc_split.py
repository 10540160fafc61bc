"""Split a partitioned dataset out of core, then load a bounded sample of it to train on.

``split_partitioned`` reads the validated ``good/`` partitions one at a time and writes each
row to ``train/``, ``valid/`` or ``test/`` (stratified by the target within each partition
for classification, random otherwise; deterministic for a seed), so peak memory stays about
one partition. ``load_sample`` then reads exactly ``sample_rows`` rows back (all, if fewer), in the same
proportions, as one frame with its holdout positions: what the in-memory training steps take.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import UserError
from engine.specs import SplitSpec
from engine.splits import Holdout, stratify_labels

if TYPE_CHECKING:
    import pandas as pd

PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class PartitionedSplit:
    root: str
    rows: dict[str, int]  # part -> rows

    def dir(self, part: str) -> Path:
        return Path(self.root) / part


@dataclass(frozen=True)
class Sample:
    """The in-memory sample the models train on, and where its rows came from."""

    frame: pd.DataFrame
    holdout: Holdout
    rows_total: int  # rows of the whole (partitioned) dataset
    quarantine: Any = None  # the quarantined rows live on disk, not in memory


def _partitions(directory: Path) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    for path in sorted(directory.glob("*.parquet")):
        yield pq.read_table(path).to_pandas()


def _assign(
    part: pd.DataFrame, target: str, task: str, spec: SplitSpec, rng: np.random.Generator
) -> np.ndarray:
    """0 = train, 1 = valid, 2 = test for each row; within each class (or target bin) when
    stratified."""
    import pandas as pd

    cuts = np.array([1.0 - spec.test_size - spec.valid_size, 1.0 - spec.test_size])
    out = np.empty(len(part), dtype=np.int8)
    if spec.kind == "stratified":
        # classes, or a regression target's quantile bins (as the in-memory split does)
        labels = stratify_labels(part[target].to_numpy(), task)
        groups = pd.Series(labels).groupby(labels, sort=True, dropna=False).indices.values()
    else:
        groups = [np.arange(len(part))]
    for rows in groups:
        u = (rng.permutation(len(rows)) + 0.5) / len(rows)  # evenly spread: exact proportions
        out[rows] = np.searchsorted(cuts, u, side="right")
    return out


def split_partitioned(
    good_dir: str | Path, *, target: str, task: str, spec: SplitSpec, seed: int, out_dir: str | Path
) -> PartitionedSplit:
    if spec.kind not in ("random", "stratified"):
        raise UserError(
            f"split.kind {spec.kind!r} cannot run out of core",
            key_path="split.kind",
            hint="use random or stratified with data.out_of_core, or load the data in memory",
        )
    out = Path(out_dir)
    for part in PARTS:
        shutil.rmtree(out / part, ignore_errors=True)
        (out / part).mkdir(parents=True)
    rows = dict.fromkeys(PARTS, 0)
    for i, frame in enumerate(_partitions(Path(good_dir))):
        rng = np.random.default_rng([seed, i])
        which = _assign(frame, target, task, spec, rng)
        for code, part in enumerate(PARTS):
            chunk = frame[which == code]
            if len(chunk):
                chunk.to_parquet(out / part / f"part-{i:05d}.parquet")
                rows[part] += len(chunk)
    return PartitionedSplit(str(out), rows)


def _quotas(rows: dict[str, int], sample_rows: int) -> dict[str, int]:
    """Rows to keep per part: ``sample_rows`` in all (or every row when fewer), shared in
    the parts' proportions by largest remainder, so the total is exact."""
    total = sum(rows.values())
    if total <= sample_rows:
        return dict(rows)
    shares = {p: rows[p] * sample_rows / total for p in PARTS}
    out = {p: int(shares[p]) for p in PARTS}
    by_remainder = sorted(PARTS, key=lambda p: (out[p] - shares[p], PARTS.index(p)))
    for p in by_remainder[: sample_rows - sum(out.values())]:
        out[p] += 1
    return out


def load_sample(split: PartitionedSplit, *, sample_rows: int, seed: int) -> Sample:
    """Exactly ``min(sample_rows, rows)`` rows, each part sampled in its own proportion,
    partition by partition (only the kept rows stay in memory)."""
    import pandas as pd

    total = sum(split.rows.values())
    quotas = _quotas(split.rows, sample_rows)
    rng = np.random.default_rng(seed)
    frames: dict[str, list[pd.DataFrame]] = {p: [] for p in PARTS}
    for part in PARTS:
        n, k = split.rows[part], quotas[part]
        keep = None if k >= n else np.sort(rng.choice(n, size=k, replace=False))
        start = 0
        for frame in _partitions(split.dir(part)):
            end = start + len(frame)
            if keep is not None:
                lo, hi = np.searchsorted(keep, [start, end])
                frame = frame.iloc[keep[lo:hi] - start]
            frames[part].append(frame)
            start = end
    pieces = [pd.concat(frames[p], ignore_index=True) if frames[p] else None for p in PARTS]
    non_empty = [p for p in pieces if p is not None]
    if not non_empty:
        raise UserError("out-of-core split produced no rows", key_path="data.out_of_core")
    frame = pd.concat(non_empty, ignore_index=True)
    sizes = [0 if p is None else len(p) for p in pieces]
    bounds = np.cumsum([0, *sizes])
    holdout = Holdout(*(np.arange(bounds[k], bounds[k + 1]) for k in range(3)))
    return Sample(frame, holdout, total)
