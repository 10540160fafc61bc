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


OVERHEAD = {
    "sync chain": 0.4,
    "sync fan-out": 0.5,
    "dask chain": 0.6,
    "bare dask chain": 1.2,
    "dask fan-out": 4.7,
    "bare dask fan-out": 2.0,
    "dask fan-out cpu driver": 0.8,
    "dask fan-out cpu workers": 3.1,
    "bare dask fan-out cpu driver": 0.9,
    "bare dask fan-out cpu workers": 1.2,
    "dask unpacked": 6.0,
}


def test_report_prints_every_ratio_and_target(bench_sweep, capsys) -> None:
    walls = {"sous": [20.0], "sous_rerun": [0.5], "hydra_basic": [30.0], "gridsearch": [16.0]}
    bench_sweep.report(walls, {}, (13.0, 9.0), OVERHEAD)
    out = capsys.readouterr().out
    assert "hydra basic / sous   = 1.50x" in out and "sous / GridSearchCV  = 1.25x" in out
    assert "rerun / cold         = 2.5%" in out
    assert "dask fan-out  sous   4.70   bare Dask futures   2.00   sous / bare 2.35x" in out
    assert "dask chain    sous   0.60   bare Dask futures   1.20   sous / bare 0.50x" in out
    assert "CPU per node: driver+scheduler 0.80 (bare 0.90), workers 3.10 (bare 1.20)" in out
    assert "dask fan-out, packing off: 6.00   sous / bare 3.00x" in out
    assert "of the largest forests" in out and "9.00" in out


def test_the_no_growth_profile_splits_a_run_by_its_step_rows(bench_sweep) -> None:
    """Where a Sous run's time went, from the step rows' worker, started_s and wall_s."""
    steps = [
        {"name": "load:t", "cached": False, "worker": "w1", "started_s": 1.0, "wall_s": 0.5},
        {"name": "fit:rf:t0:f0", "cached": False, "worker": "w1", "started_s": 2.0, "wall_s": 3.0},
        {"name": "fit:rf:t0:f1", "cached": False, "worker": "w2", "started_s": 2.0, "wall_s": 2.0},
        {"name": "refit", "cached": False, "worker": "w2", "started_s": 5.0, "wall_s": 1.0},
        {"name": "test", "cached": False, "worker": "w2", "started_s": 6.0, "wall_s": 0.5},
        {"name": "package", "cached": False, "worker": "driver", "started_s": 7.0, "wall_s": 1.0},
        {"name": "split", "cached": True, "worker": None, "started_s": None, "wall_s": 0.0},
    ]
    record = {
        "started_at": "2026-01-01T00:00:00.000+00:00",
        "finished_at": "2026-01-01T00:00:09.000+00:00",
        "steps": steps,
    }
    parts = bench_sweep.where_the_time_went(record, 10.0)
    assert parts["command (python, imports, exit)"] == pytest.approx(1.0)
    assert parts["run: until the first node starts"] == pytest.approx(1.0)
    assert parts["nodes: first start to last end"] == pytest.approx(5.5)
    assert parts["  fits (sum of wall / 2 workers)"] == pytest.approx(2.5)
    assert parts["  fits: first start to last end"] == pytest.approx(4.0)
    assert parts["  refit + test"] == pytest.approx(1.5)
    assert parts["  workers idle within the span"] == pytest.approx(5.5 - 3.5 + 5.5 - 3.5)
    # w2's last fit ended at 4.0, w1's at 5.0: one second of uneven tail
    assert parts["  of which at the fits' end (uneven tail)"] == pytest.approx(1.0)
    assert parts["run: after the last node (release, record)"] == pytest.approx(2.5)


def test_bench_sweep_help_says_how_to_run_the_no_growth_part_alone() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_sweep.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--only nogrowth --reps 1" in out and "--only overhead" in out
    assert "cheap" in out  # the grid of cheap fits, with packing and without


def test_agree_flags_a_different_winner(bench_sweep, capsys) -> None:
    same = {"best_params": {"n_estimators": 12}, "best_score": 0.9}
    assert bench_sweep.agree({"gridsearch": same, "sous": dict(same)})
    assert not bench_sweep.agree({"gridsearch": same, "sous": {**same, "best_score": 0.8}})


def test_node_overhead_measures_every_executor_and_shape_beside_bare_dask(bench_sweep) -> None:
    figures = bench_sweep.node_overhead(n=10, reps=1)
    dask = [f"{who}dask {shape}" for who in ("", "bare ") for shape in ("chain", "fan-out")]
    dask.append("dask unpacked")  # the fan-out with packing off
    assert set(figures) == {
        "sync chain",
        "sync fan-out",
        *dask,
        *(f"{way} cpu {part}" for way in dask for part in ("driver", "workers")),
    }
    assert all(math.isfinite(v) for v in figures.values())


def test_run_all_refuses_unknown_benchmarks(capsys) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import run_all
    finally:
        sys.path.remove(str(BENCH))
    assert run_all.main(["nope"]) == 2


def test_the_fold_overhead_compares_one_sous_fold_with_gridsearchs_in_cpu_time(
    bench_sweep, tmp_path
) -> None:
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    np.savez(tmp_path / "rows.npz", X=X, y=y)
    parts = bench_sweep.fold_overhead({"npz": str(tmp_path / "rows.npz")}, reps=1)
    assert set(parts) == {"sous fit_score", "GridSearchCV's fit + accuracy scorer", "difference"}
    assert parts["sous fit_score"] > 0 and parts["GridSearchCV's fit + accuracy scorer"] > 0
    assert (
        parts["difference"]
        == parts["sous fit_score"] - parts["GridSearchCV's fit + accuracy scorer"]
    )


def test_ratios_are_paired_by_repetition(bench_sweep, capsys) -> None:
    """Each repetition's ratio (its two runs back to back), their median, and the list, so
    a reader sees how far apart repetitions were on shared cores."""
    walls = {"sous": [66.0, 60.0, 61.0], "gridsearch": [55.0, 62.5, 55.0]}
    assert bench_sweep.paired(walls, "sous", "gridsearch") == (
        "1.11x (per repetition: 1.20x, 0.96x, 1.11x)"
    )
    assert bench_sweep.paired({"a": [3.0], "b": [2.0]}, "a", "b") == "1.50x"
    walls = {"sous": [20.0, 22.0], "sous_rerun": [0.5, 0.5], "hydra_basic": [30.0, 44.0]}
    bench_sweep.report({**walls, "gridsearch": [16.0, 20.0]}, {}, (13.0, 9.0), OVERHEAD)
    out = capsys.readouterr().out
    assert "hydra basic / sous   = 1.75x (per repetition: 1.50x, 2.00x)" in out
    assert "sous / GridSearchCV  = 1.18x (per repetition: 1.25x, 1.10x)" in out


def test_repetitions_alternate_which_way_runs_first(bench_sweep) -> None:
    """The first process after a pause is the slow one here: no way may always be it."""
    ran: list[str] = []

    def way(name: str):
        def run(rep: int) -> tuple[float, dict[str, object]]:
            ran.append(f"{name}{rep}")
            return float(rep), {"name": name}

        return run

    walls, results = bench_sweep.interleave(
        [[("a", way("a")), ("r", way("r"))], [("b", way("b"))]], 3
    )
    # the groups alternate; inside one, the order holds (a rerun after its cold run)
    assert ran == ["a0", "r0", "b0", "b1", "a1", "r1", "a2", "r2", "b2"]
    assert walls == {"a": [0.0, 1.0, 2.0], "r": [0.0, 1.0, 2.0], "b": [0.0, 1.0, 2.0]}
    assert results["a"] == {"name": "a"} and results["records"] == []
