"""benchmarks/bench_scale.py stays runnable: its data, in-memory fit and report on tiny inputs
(the --quick run on a real cluster is in tests/integration/test_scale_training.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture(scope="module")
def bench_scale():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_scale

        yield bench_scale
    finally:
        sys.path.remove(str(BENCH))


def test_dataset_is_partitioned_like_an_out_of_core_split(bench_scale, tmp_path) -> None:
    counts = bench_scale.write_dataset(tmp_path, 1_000)
    assert counts == {"train": 700, "valid": 100, "test": 200}
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["part-00000.parquet"]


def test_in_memory_fit_and_the_side_by_side_report(bench_scale, tmp_path, capsys) -> None:
    bench_scale.write_dataset(tmp_path, 2_000)
    result = bench_scale._fit_in_memory(tmp_path, 500, "bounded sample")
    assert result["rows"] == 500 and 0.5 < result["accuracy"] <= 1.0
    dist = {"mode": "distributed", "rows": 1400, "accuracy": 0.9, "wall_s": 3.0,
            "peak_mb": [410.0, 420.0], "rows_trained": 1400, "streamed": True,
            "trained_on": 2}  # fmt: skip
    bench_scale.report([dist, result], 1024, 5120.0)
    out = capsys.readouterr().out
    assert "5.00x one worker's 1024 MB limit" in out
    assert "distributed" in out and "bounded sample" in out and "410, 420" in out
    assert "distributed peak per worker / limit = 0.41" in out
    assert "1,400 rows trained on, external memory, 2 shards" in out
