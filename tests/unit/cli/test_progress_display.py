"""The run display: on a terminal, a live display whose clock keeps moving during a silent
stage (packaging, the smoke test); elsewhere plain lines and a heartbeat line."""

from __future__ import annotations

import io
import threading
import time

from engine.progress import Progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal; writes are thread-safe to read."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self.lock:
            return super().write(s)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


def _wait_for(predicate, limit: float = 30.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_silent_stage_keeps_redrawing_on_a_terminal(tmp_path) -> None:
    out = Terminal()
    p = Progress(out, log_file=tmp_path / "run.log")
    p.add(4, loads=2)
    p.line("run r1: recipe iris")
    with p.stage("packaging"):
        size = len(out.text())
        # nothing is reported, yet the display is redrawn (its clock ticks)
        assert _wait_for(lambda: out.text().count("packaging") >= 3)
        assert len(out.text()) > size
    p.close()
    text = out.text()
    assert "run r1: recipe iris" in text and "[0/4]" in text and "cache loads 2" in text
    assert "run r1: recipe iris" in (tmp_path / "run.log").read_text()


def test_plain_output_gets_a_heartbeat_line_during_a_stage() -> None:
    out = io.StringIO()
    p = Progress(out, heartbeat_s=0.05)
    with p.stage("smoke test"):
        assert _wait_for(lambda: "still smoke test (" in out.getvalue())
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("smoke test ...")
    assert "\x1b" not in out.getvalue()  # no terminal codes in logs


def test_status_text_has_counts_eta_and_the_stage() -> None:
    p = Progress(io.StringIO())
    p.add(4)
    p.done = 2
    assert "[2/4]" in p.status_text() and "ETA" in p.status_text()
    with p.stage("packaging"):
        assert "packaging" in p.status_text()
    p.close()


def test_expected_tasks_count_in_the_total_until_submitted() -> None:
    out = io.StringIO()
    p = Progress(out)
    p.add(3)
    p.expect(10)  # ten more planned, handed out later
    assert "[0/13]" in p.status_text()
    p.add(4)  # four of them go in: the total stays
    assert "[0/13]" in p.status_text()
    p.add(8)  # more than announced (an estimate): the total is what went in
    assert p.planned() == 15 and p.expected == 0
    p.expect(2)
    p.expect(0)  # nothing more will come after all
    assert p.planned() == 15
    p.close()
