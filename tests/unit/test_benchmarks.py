"""The benchmark scripts stay runnable: their reporting and measuring parts, on tiny inputs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench_sweep():
    sys.path[:0] = [str(BENCH), str(BENCH / "peers")]
    try:
        import bench_sweep

        yield bench_sweep
    finally:
        for p in (str(BENCH), str(BENCH / "peers")):
            sys.path.remove(p)


def test_report_prints_every_ratio_and_target(bench_sweep, capsys) -> None:
    walls = {"sous": [20.0], "sous_rerun": [0.5], "hydra_basic": [30.0], "gridsearch": [16.0]}
    bench_sweep.report(walls, {}, (13.0, 9.0), {"sync chain": 0.4, "dask fan-out": 4.7})
    out = capsys.readouterr().out
    assert "hydra basic / sous   = 1.50x" in out and "sous / GridSearchCV  = 1.25x" in out
    assert "rerun / cold         = 2.5%" in out and "dask fan-out 4.70 ms" in out
    assert "of the largest forests" in out and "9.00" in out


def test_agree_flags_a_different_winner(bench_sweep, capsys) -> None:
    same = {"best_params": {"n_estimators": 12}, "best_score": 0.9}
    assert bench_sweep.agree({"gridsearch": same, "sous": dict(same)})
    assert not bench_sweep.agree({"gridsearch": same, "sous": {**same, "best_score": 0.8}})


def test_node_overhead_measures_every_executor_and_shape(bench_sweep) -> None:
    figures = bench_sweep.node_overhead(n=10)
    assert set(figures) == {"sync chain", "sync fan-out", "dask chain", "dask fan-out"}
    assert all(math.isfinite(v) for v in figures.values())


def test_run_all_refuses_unknown_benchmarks(capsys) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import run_all
    finally:
        sys.path.remove(str(BENCH))
    assert run_all.main(["nope"]) == 2
