"""The Monitoring page's data layer: aligned windows, the per-window cache keyed on the log
files a window can read, and the line chart it is drawn with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.monitor.locate import Target
from engine.specs import MonitorSpec
from engine.ui import monitoring, svg
from engine.ui.app import _duration, _duration_text

HOUR = 3600.0


class _Clock:
    def __init__(self, at: float):
        import time

        self.at, self.monotonic, self.strftime = at, time.monotonic, time.strftime

    def time(self) -> float:
        return self.at


def _log(directory: Path, at: float, monkeypatch: pytest.MonkeyPatch, n: int = 3) -> Path:
    """A request-log file whose rows were logged at ``at`` (the real RequestLog)."""
    from engine.serving.runtime import reqlog

    monkeypatch.setattr(reqlog, "time", _Clock(at))
    log = reqlog.RequestLog(directory)
    log.write([{"x": float(i)} for i in range(n)], [{"prediction": 1}] * n, version="v1")
    path = log.flush()
    monkeypatch.undo()
    assert path is not None
    return path


def test_windows_are_aligned_like_alert_dedupe_and_end_with_the_current_one() -> None:
    spans = monitoring.aligned_windows(10 * HOUR + 5, HOUR, 3)
    assert spans == [(8 * HOUR, 9 * HOUR), (9 * HOUR, 10 * HOUR), (10 * HOUR, 11 * HOUR)]


def test_window_lengths_are_read_and_written_as_durations() -> None:
    assert _duration("1h") == HOUR and _duration("15m") == 900 and _duration("90") == 90
    assert _duration("2d") == 2 * 86400 and _duration("") is None and _duration("x") is None
    assert _duration("0") is None  # not a window
    assert _duration_text(86400) == "1d" and _duration_text(5400) == "90m"
    assert _duration_text(45) == "45s"


def test_a_window_reads_only_the_files_its_rows_can_be_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "requests"
    early = _log(logs, 3 * HOUR + 10, monkeypatch)
    late = _log(logs, 5 * HOUR + 10, monkeypatch)
    logged = monitoring._spans(logs)
    names = lambda since, until: [f[0] for f in monitoring._files_in(logged, since, until)]  # noqa: E731
    assert names(3 * HOUR, 4 * HOUR) == [early.name]
    assert names(5 * HOUR, 6 * HOUR) == [late.name]
    assert names(4 * HOUR, 5 * HOUR) == []


def test_a_past_window_is_checked_once_while_its_files_are_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.monitor.monitor as monitor

    calls: list[tuple[float, float]] = []

    def check(name: str, spec: Any, *, version: str, since: float, until: float, now: float) -> Any:
        calls.append((since, until))
        return ("report", since, until)

    logs = tmp_path / "requests"
    _log(logs, 3 * HOUR + 10, monkeypatch)
    monkeypatch.setattr(monitor, "check", check)
    monkeypatch.setattr(monitoring, "_cache", type(monitoring._cache)())
    target = Target("m", "v1", "m:abc", {}, logs, tmp_path / "feedback")
    spec = MonitorSpec(window_s=HOUR)
    spans = monitoring.aligned_windows(4 * HOUR + 30, HOUR, 2)  # 3h-4h, 4h-5h (current)

    def page() -> list[Any]:  # as monitor_view does: the files listed once per page
        logged, feedback = monitoring._spans(logs), monitoring._signature(target.feedback_dir)
        return [monitoring._check(target, spec, *s, logged, feedback) for s in spans]

    first = page()
    again = page()
    assert first == again and len(calls) == 2
    # new traffic in the current window: only the current window is checked again
    monkeypatch.setattr(monitor, "check", check)
    from engine.serving.runtime import reqlog

    with monkeypatch.context() as m:
        m.setattr(reqlog, "time", _Clock(4 * HOUR + 20))
        log = reqlog.RequestLog(logs)
        log.write([{"x": 1.0}], [{"prediction": 1}], version="v1")
        log.flush()
    page()
    assert calls[2:] == [spans[1]]
    # new feedback labels can change any window's live metrics: all are checked again
    from engine.drift.feedback import Feedback, FeedbackLog

    FeedbackLog(tmp_path / "feedback").write([Feedback("r1", 1)])
    page()
    assert calls[3:] == spans


def test_the_line_chart_draws_a_point_per_value_with_gaps_and_a_reference() -> None:
    out = svg.lines(
        [("a<b", [0.1, None, 0.3]), ("c", [0.2, 0.25, None])],
        ["t0", "t1", "t2"],
        "drift",
        reference=0.2,
        reference_label="PSI threshold",
    )
    assert out.count('data-series="a&lt;b"') == 2 and out.count('data-series="c"') == 2
    assert "a<b" not in out  # escaped
    assert out.count('class="reference"') == 1 and "PSI threshold: 0.2" in out
    assert out.count("<path") == 1  # a's two points are split by the gap; c draws one line
    assert "No window" in svg.lines([("a", [None, None])], ["t0", "t1"], "empty")
