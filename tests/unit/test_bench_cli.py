"""benchmarks/bench_cli.py stays runnable: its import-share parser and its report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench_cli():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_cli

        yield bench_cli
    finally:
        sys.path.remove(str(BENCH))


IMPORTTIME = """import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:       300 |        600 | engine.cli
import time:       500 |       2000 |   hydra
import time:      2400 |       2400 | hydra
"""


def test_shares_are_of_top_level_imports(bench_cli) -> None:
    assert bench_cli.shares(IMPORTTIME, 5) == [("hydra", 0.8), ("engine.cli", 0.2)]


def test_report_says_whether_each_command_meets_the_target(bench_cli, capsys) -> None:
    assert bench_cli.report({"validate iris": [0.5, 0.6, 0.7]}, [0.02]) is True
    assert not bench_cli.report({"plan iris": [0.9, 1.0, 1.1]}, [0.02])
    out = capsys.readouterr().out
    assert "sous validate iris" in out and "median  0.600 s" in out and "met" in out
    assert "sous plan iris" in out and "NOT MET" in out and "python -c pass" in out


def test_in_make_bench(bench_cli) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import run_all
    finally:
        sys.path.remove(str(BENCH))
    assert run_all.BENCHES["cli"][0] == "bench_cli.py"
