"""Split a partitioned dataset out of core, then load a bounded sample of it to train on.

``split_partitioned`` reads the validated ``good/`` partitions one at a time and writes each
row to ``train/``, ``valid/`` or ``test/`` (stratified by the target within each partition
for classification, random otherwise; deterministic for a seed), so peak memory stays about
one partition. ``load_sample`` then reads at most ``sample_rows`` rows back, in the same
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
from engine.splits import Holdout

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
    """0 = train, 1 = valid, 2 = test for each row; within each class for classification."""
    cuts = np.array([1.0 - spec.test_size - spec.valid_size, 1.0 - spec.test_size])
    out = np.empty(len(part), dtype=np.int8)
    if spec.kind == "stratified" and task == "classification":
        groups = part.groupby(target, sort=True, dropna=False).indices.values()
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


def load_sample(split: PartitionedSplit, *, sample_rows: int, seed: int) -> Sample:
    """At most ``sample_rows`` rows, each part sampled in its own proportion, partition by
    partition (only the kept rows stay in memory)."""
    import pandas as pd

    total = sum(split.rows.values())
    keep = min(1.0, sample_rows / total) if total else 1.0
    rng = np.random.default_rng(seed)
    frames: dict[str, list[pd.DataFrame]] = {p: [] for p in PARTS}
    for part in PARTS:
        for frame in _partitions(split.dir(part)):
            if keep < 1.0:
                frame = frame[rng.random(len(frame)) < keep]
            frames[part].append(frame)
    pieces = [pd.concat(frames[p], ignore_index=True) if frames[p] else None for p in PARTS]
    non_empty = [p for p in pieces if p is not None]
    if not non_empty:
        raise UserError("out-of-core split produced no rows", key_path="data.out_of_core")
    frame = pd.concat(non_empty, ignore_index=True)
    sizes = [0 if p is None else len(p) for p in pieces]
    bounds = np.cumsum([0, *sizes])
    holdout = Holdout(*(np.arange(bounds[k], bounds[k + 1]) for k in range(3)))
    return Sample(frame, holdout, total)
