"""engine/models/xgb_external.py without a cluster: files dealt to workers, one file in
memory at a time, every row trained on, and the auto rule that picks external memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.models import xgb_external as xe
from engine.models.dask_xgboost import DaskXGBClassifier, DaskXGBRegressor
from tests.unit.scale.parquet_files import read, write

ROWS_PER_FILE = 400


def _files(root: Path, name: str, count: int, seed: int) -> list[str]:
    return write(root, name, count, seed=seed, rows=ROWS_PER_FILE, width=5)


def _concat(files: list[str]) -> tuple[np.ndarray, np.ndarray]:
    parts = [read(f) for f in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@pytest.mark.parametrize(("train", "valid", "workers", "expected"), [
    (6, 3, 2, 2), (6, 3, 4, 3), (2, 5, 4, 2), (5, 0, 3, 3), (1, 1, 8, 1), (4, 4, 1, 1),
])  # fmt: skip
def test_files_are_dealt_round_robin_with_rows_on_every_shard(
    train: int, valid: int, workers: int, expected: int
) -> None:
    t = [f"t{i}" for i in range(train)]
    v = [f"v{i}" for i in range(valid)]
    parts = xe.shards(t, v, workers)
    assert len(parts) == expected
    assert sorted(f for p in parts for f in p.train) == sorted(t)  # each file exactly once
    assert sorted(f for p in parts for f in p.valid) == sorted(v)
    assert all(p.train for p in parts)
    assert all(p.valid for p in parts) or not v
    sizes = [len(p.train) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_a_shard_streams_one_file_at_a_time_and_trains_on_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen: list[list[str]] = []

    def watching(path: str) -> tuple[np.ndarray, np.ndarray]:
        seen.append([p.name for p in scratch.iterdir()])
        return read(path)

    train, valid = _files(tmp_path, "t", 5, 0), _files(tmp_path, "v", 2, 1)
    params = {"tree_method": "hist", "objective": "binary:logistic", "max_depth": 4, "nthread": 1}
    result = xe.train_shard(xe.Shard(tuple(train), tuple(valid)), watching, params, 60, 5)
    assert result.rows == 5 * ROWS_PER_FILE
    assert result.largest_batch == ROWS_PER_FILE  # never more than one file in memory
    booster = result.booster
    assert booster.attr("best_iteration") is not None  # early stopping watched the valid files
    x, y = _concat(_files(tmp_path, "test", 2, 2))
    accuracy = ((booster.inplace_predict(x) > 0.5) == y).mean()
    assert accuracy > 0.8
    # the quantised pages lived in a scratch folder of their own, removed after the fit
    assert any(names and names[0].startswith("sous-xgb-") for names in seen)
    assert list(scratch.iterdir()) == []


def test_fit_files_with_external_memory_matches_the_in_memory_fit(tmp_path: Path) -> None:
    """Streaming changes where the rows live, not what the model learns: quantiles come
    from the same rows, so both models score the test rows alike."""
    train, valid = _files(tmp_path, "t", 4, 0), _files(tmp_path, "v", 2, 1)
    test_x, test_y = _concat(_files(tmp_path, "test", 2, 2))
    scores = {}
    for external in (True, False):
        model = DaskXGBClassifier(
            n_estimators=80, max_depth=4, early_stopping_rounds=5, external_memory=external,
            random_state=0,
        )  # fmt: skip
        model.fit_files(train, valid, read, width=5, classes=np.array([0.0, 1.0]))
        assert model.n_features_in_ == 5
        scores[external] = (model.predict(test_x) == test_y).mean()
        if external:
            assert model.rows_trained_ == 4 * ROWS_PER_FILE
            assert model.trained_on_ == 1  # no cluster: one shard, this process
    assert scores[True] > 0.8
    assert abs(scores[True] - scores[False]) < 0.03


def test_fit_files_regressor_without_early_stopping_trains_every_round(tmp_path: Path) -> None:
    train = _files(tmp_path, "t", 3, 0)
    model = DaskXGBRegressor(n_estimators=15, external_memory=True).fit_files(
        train, [], read, width=5
    )
    assert model.booster_.num_boosted_rounds() == 15
    assert model.predict(read(train[0])[0]).shape == (ROWS_PER_FILE,)


def test_a_bad_external_memory_value_is_refused(tmp_path: Path) -> None:
    train = _files(tmp_path, "t", 1, 0)
    with pytest.raises(ValueError, match="external_memory must be true, false or 'auto'"):
        DaskXGBRegressor(external_memory="sometimes").fit_files(train, [], read, width=5)


@pytest.mark.parametrize(("rows", "width", "workers", "limit", "expected"), [
    (10_000_000, 20, 2, 1 << 30, True),   # 5x a 1 GiB worker's share: stream
    (100_000, 20, 2, 1 << 30, False),     # a few MB: train in memory
    (10_000_000, 20, 20, 1 << 30, False),  # spread over enough workers: in memory
    (10_000_000, 20, 2, None, False),     # unlimited workers: in memory
])  # fmt: skip
def test_auto_streams_when_a_workers_share_would_crowd_its_memory(
    rows: int, width: int, workers: int, limit: int | None, expected: bool
) -> None:
    assert xe.needs_external_memory(rows, width, workers, limit) is expected


def test_parquet_rows_reads_only_footers(tmp_path: Path) -> None:
    assert xe.parquet_rows(_files(tmp_path, "t", 3, 0)) == 3 * ROWS_PER_FILE
