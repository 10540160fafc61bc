"""The monitoring benchmark stays runnable: it imports, writes a log the scanner reads, and
reports its targets (the benchmark itself is run by hand: benchmarks/bench_monitor.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[Any]:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_monitor

        yield bench_monitor
    finally:
        sys.path.remove(str(BENCH))


def test_the_log_it_writes_is_read_by_the_scanner(bench: Any, tmp_path: Path) -> None:
    from engine.drift.reference import build_reference
    from engine.monitor.drift import feature_drift
    from engine.monitor.scan import Window, scan
    from engine.specs import MonitorSpec

    ref_frame = bench.frame(5000, seed=1, drift=False)
    ref = build_reference(ref_frame, bench.FEATURES, None, {}, None)
    bench.write_log(tmp_path, 3000, "v1")
    live = scan(tmp_path, ref, Window(version="v1"))
    assert live.rows == 3000
    drifted = {n for n, d in feature_drift(ref, live, MonitorSpec()).items() if d.drifted}
    assert drifted == set(bench.DRIFTED)


def test_report_prints_both_targets(bench: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ok = bench.report({1_000_000: (2.0, 300.0), 10_000_000: (15.0, 320.0)},
                      {1_000_000: (20.0, 2000.0)})  # fmt: skip
    out = capsys.readouterr().out
    assert ok and "evidently / sous = 10.0x" in out and "= 1.07x" in out
    assert not bench.report({1_000_000: (5.0, 300.0), 10_000_000: (9.0, 900.0)},
                            {1_000_000: (20.0, 2000.0)})  # fmt: skip
