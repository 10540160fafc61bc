"""Out-of-core split: every row in exactly one part, proportions kept, deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.ooc_split import load_sample, split_partitioned
from engine.errors import UserError
from engine.specs import SplitSpec


def partitions(tmp_path: Path, n_parts: int = 4, rows: int = 1000) -> Path:
    good = tmp_path / "good"
    good.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n_parts):
        ids = np.arange(i * rows, (i + 1) * rows)
        y = (rng.random(rows) < 0.1).astype(int)
        pd.DataFrame({"id": ids, "x": rng.random(rows), "y": y}).to_parquet(
            good / f"part-{i:05d}.parquet"
        )
    return good


def read(directory: Path) -> pd.DataFrame:
    return pd.concat(
        [pd.read_parquet(p) for p in sorted(directory.glob("*.parquet"))], ignore_index=True
    )


@pytest.mark.parametrize("kind", ["random", "stratified"])
def test_rows_partitioned_once_in_proportion(tmp_path: Path, kind: str) -> None:
    spec = SplitSpec(kind=kind, test_size=0.2, valid_size=0.1)
    result = split_partitioned(
        partitions(tmp_path),
        target="y",
        task="classification",
        spec=spec,
        seed=3,
        out_dir=tmp_path / "out",
    )
    parts = {p: read(result.dir(p)) for p in ("train", "valid", "test")}
    ids = np.concatenate([parts[p]["id"].to_numpy() for p in parts])
    assert sorted(ids) == list(range(4000))
    assert result.rows == {p: len(parts[p]) for p in parts}
    assert abs(len(parts["test"]) - 800) <= 8 and abs(len(parts["valid"]) - 400) <= 8
    if kind == "stratified":
        rate = {p: parts[p]["y"].mean() for p in parts}
        assert max(rate.values()) - min(rate.values()) < 0.02


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    good = partitions(tmp_path)
    spec = SplitSpec(kind="stratified")
    a = split_partitioned(
        good, target="y", task="classification", spec=spec, seed=1, out_dir=tmp_path / "a"
    )
    b = split_partitioned(
        good, target="y", task="classification", spec=spec, seed=1, out_dir=tmp_path / "b"
    )
    c = split_partitioned(
        good, target="y", task="classification", spec=spec, seed=2, out_dir=tmp_path / "c"
    )
    assert read(a.dir("test"))["id"].tolist() == read(b.dir("test"))["id"].tolist()
    assert read(a.dir("test"))["id"].tolist() != read(c.dir("test"))["id"].tolist()


def test_sample_is_bounded_and_holdout_matches_parts(tmp_path: Path) -> None:
    result = split_partitioned(
        partitions(tmp_path),
        target="y",
        task="classification",
        spec=SplitSpec(kind="random"),
        seed=0,
        out_dir=tmp_path / "out",
    )
    sample = load_sample(result, sample_rows=1000, seed=0)
    assert len(sample.frame) == 1000 and sample.rows_total == 4000
    assert sample.frame["id"].is_unique
    h = sample.holdout
    assert len(h.train) + len(h.valid) + len(h.test) == len(sample.frame)
    test_ids = set(read(result.dir("test"))["id"])
    assert set(sample.frame.iloc[h.test]["id"]) <= test_ids
    assert not set(sample.frame.iloc[h.train]["id"]) & test_ids
    whole = load_sample(result, sample_rows=10_000, seed=0)
    assert len(whole.frame) == 4000


def test_group_and_time_splits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        split_partitioned(
            partitions(tmp_path),
            target="y",
            task="classification",
            spec=SplitSpec(kind="time", time="x"),
            seed=0,
            out_dir=tmp_path / "o",
        )
    assert err.value.key_path == "split.kind"


@pytest.mark.parametrize("sample_rows", [1, 7, 300, 309, 3999])
def test_sample_rows_is_exact_and_keeps_part_shares(tmp_path: Path, sample_rows: int) -> None:
    """``sample_rows: 300`` gives 300 rows (it gave 309 when each row was kept by a coin
    flip), shared among the parts in their proportions."""
    result = split_partitioned(
        partitions(tmp_path, n_parts=3, rows=1333),
        target="y",
        task="classification",
        spec=SplitSpec(kind="random", test_size=0.2, valid_size=0.1),
        seed=0,
        out_dir=tmp_path / "out",
    )
    sample = load_sample(result, sample_rows=sample_rows, seed=5)
    h = sample.holdout
    assert len(sample.frame) == sample_rows == len(h.train) + len(h.valid) + len(h.test)
    assert sample.frame["id"].is_unique
    total = sum(result.rows.values())
    for part, idx in (("train", h.train), ("valid", h.valid), ("test", h.test)):
        assert abs(len(idx) - result.rows[part] * sample_rows / total) < 1
        assert set(sample.frame.iloc[idx]["id"]) <= set(read(result.dir(part))["id"])


def test_stratified_regression_split_keeps_target_bins(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        y = rng.lognormal(size=1000)
        pd.DataFrame({"id": np.arange(i * 1000, (i + 1) * 1000), "y": y}).to_parquet(
            good / f"part-{i:05d}.parquet"
        )
    result = split_partitioned(
        good,
        target="y",
        task="regression",
        spec=SplitSpec(kind="stratified", test_size=0.2, valid_size=0.1),
        seed=0,
        out_dir=tmp_path / "out",
    )
    parts = {p: read(result.dir(p)) for p in ("train", "valid", "test")}
    # within each input partition, each decile of the target is cut 70/10/20 (+-1 row)
    for i in range(2):
        frame = pd.read_parquet(good / f"part-{i:05d}.parquet")
        deciles = pd.qcut(frame["y"], 10, labels=False)
        for part, share in (("train", 0.7), ("valid", 0.1), ("test", 0.2)):
            mask = frame["id"].isin(parts[part]["id"])
            counts = np.bincount(deciles[mask], minlength=10)
            assert np.all(np.abs(counts - 100 * share) <= 1), (part, counts)
