"""benchmarks/bench_ui.py stays runnable: it imports, fills a database, and reports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture
def bench_ui():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_ui

        yield bench_ui
    finally:
        sys.path.remove(str(BENCH))


def test_fill_and_report(bench_ui, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    ids = bench_ui.fill(tmp_path, 3)
    from engine.ui.data import RunIndex

    assert sorted(s.run_id for s in RunIndex(f"sqlite:///{tmp_path / 'runs.db'}").summaries()) == (
        sorted(ids)
    )
    bench_ui.report(0.8, 120.0, {"run": [10.0, 12.0], "slow": [400.0]}, 3)
    out = capsys.readouterr().out
    assert "start to first Runs page: 0.80 s (target < 2 s: ok)" in out
    assert "OVER" in out and "run" in out


def test_import_profile_keeps_the_top_of_the_tree_as_shares(bench_ui) -> None:
    err = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 |     sqlalchemy.sql",
            "import time:       300 |        600 |   sqlalchemy",
            "import time:       200 |        800 | engine.store.runs",
            "import time:       200 |        200 | uvicorn",
            "not an import line",
        ]
    )
    assert bench_ui.import_profile(err) == [
        ("engine.store.runs", 0.0008, 0.8),
        ("uvicorn", 0.0002, 0.2),
    ]


def test_monitoring_bench_fills_a_log_the_page_reads_window_by_window(
    bench_ui, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    newest = bench_ui.fill_monitoring(tmp_path, 2240, days=14, files_per_day=2)
    from engine.ui import monitoring

    view = monitoring.monitor_view("bench", "v1", now=newest + 1, windows=15)  # 14 days, aligned
    assert view.error is None and len(view.points) == 15
    assert sum(p.rows for p in view.points) == 2240
    assert set(view.feature_names) == {"region", *(f"x{i}" for i in range(8))}
    assert view.metrics[0].metric == "accuracy" and view.metrics[0].live is None  # no labels
