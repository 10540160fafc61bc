"""Run progress: a live display on a terminal (rich: a bar, counts, ETA, the running stage
with its clock ticking), plain log lines otherwise.

A long step that reports nothing until it ends (packaging, the smoke test) runs inside
:meth:`Progress.stage`: on a terminal its clock keeps moving (rich redraws on its own
thread), elsewhere a "still ..." line is written every ``heartbeat_s`` seconds, so a run
never looks hung. Every line also goes to the run's log file, kept with the run record.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from engine.execution.compile import Task

log = logging.getLogger("sous")

HEARTBEAT_S = 10.0  # plain output: a "still packaging (20s)" line this often


class Progress:
    """Counts done / total, names the running step and stage, counts cache hits."""

    def __init__(
        self,
        stream: TextIO | None = None,
        log_file: Path | None = None,
        *,
        heartbeat_s: float = HEARTBEAT_S,
    ):
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = 0  # tasks submitted to compute
        self.expected = 0  # more to come that are planned but not yet submitted
        self.done = 0
        self.cache_hits = 0
        self.started = time.perf_counter()
        self.heartbeat_s = heartbeat_s
        self._last: str | None = None
        self._stage: tuple[str, float] | None = None
        self._file = open(log_file, "a", encoding="utf-8") if log_file else None  # noqa: SIM115
        self._display: Any = None  # rich.live.Live on a terminal, started on first use

    def close(self) -> None:
        if self._display is not None:
            self._display.stop()
            self._display = None
        if self._file:
            self._file.close()

    def line(self, text: str) -> None:
        """A plain line (above the live display on a terminal)."""
        stamp = time.strftime("%H:%M:%S")
        if self._file:
            self._file.write(f"{stamp} {text}\n")
            self._file.flush()
        if self.live:
            self._console().print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self.stream.write(f"{stamp} {text}\n")
            self.stream.flush()

    def begin(self, executor: str, dashboard: str | None) -> None:
        where = f" (dashboard {dashboard})" if dashboard else ""
        self.line(f"executor: {executor}{where}")

    def add(self, to_run: int, loads: int = 0) -> None:
        """More tasks were submitted: ``to_run`` to compute, ``loads`` read from the cache."""
        self.total += to_run
        self.expected = max(0, self.expected - to_run)
        self.cache_hits += loads
        self._refresh()

    def expect(self, more: int) -> None:
        """``more`` tasks beyond those submitted are still to come (a sweep planned whole
        but handed out a few trials at a time): the total counts them from now on, so it
        does not grow under the reader's eyes; ``expect(0)`` when no more will come."""
        self.expected = more
        self._refresh()

    def planned(self) -> int:
        """The total shown: tasks submitted, plus those announced by :meth:`expect`."""
        return self.total + self.expected

    def task_done(self, task: Task) -> None:
        if task.mode != "compute":
            return
        self._last = task.node.step
        self.done += 1
        if self.live:
            if self._file:
                self._file.write(f"{time.strftime('%H:%M:%S')} done {task.node.step}\n")
            self._refresh()
        else:
            self.line(f"[{self.done}/{self.planned()}] done {task.node.step}")

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """A step that is silent until it ends: its clock ticks on a terminal, and a "still
        NAME (Ns)" line goes out every ``heartbeat_s`` seconds otherwise."""
        self._stage = (name, time.perf_counter())
        beat = None if self.live else _Heartbeat(self, name)
        if self.live:
            self._refresh()
        else:
            self.line(f"{name} ...")
        try:
            yield
        finally:
            if beat is not None:
                beat.stop()
            self._stage = None
            self._refresh()

    # -- the live display ---------------------------------------------------------------

    def _console(self) -> Any:
        display = self._start()
        return display.console

    def _start(self) -> Any:
        if self._display is None:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, force_terminal=True)
            self._display = Live(
                _Status(self), console=console, refresh_per_second=4, transient=True
            )
            self._display.start()
        return self._display

    def _refresh(self) -> None:
        if self.live:
            self._start().refresh()

    def status_text(self) -> str:
        """What the live display says now (also its text for tests)."""
        elapsed = time.perf_counter() - self.started
        total = self.planned()
        parts = [f"[{self.done}/{total}]", f"{elapsed:.1f}s"]
        if self.done and total > self.done:
            eta = elapsed / self.done * (total - self.done)
            parts.append(f"ETA {eta:.0f}s")
        parts.append(f"cache loads {self.cache_hits}")
        if self._stage:
            name, since = self._stage
            parts.append(f"{name} {time.perf_counter() - since:.1f}s")
        elif self._last:
            parts.append(f"last done {self._last}")
        return "  ".join(parts)


class _Status:
    """The live display's renderable: rebuilt at each refresh, so clocks keep moving."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def __rich__(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.spinner import Spinner
        from rich.table import Table

        p = self.progress
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            Spinner("dots"),
            ProgressBar(total=max(p.planned(), 1), completed=p.done, width=24),
            p.status_text(),
        )
        return grid


class _Heartbeat:
    """A "still NAME (Ns)" line every ``progress.heartbeat_s`` seconds, until stopped."""

    def __init__(self, progress: Progress, name: str):
        self.progress = progress
        self.name = name
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="sous-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.progress.heartbeat_s):
            waited = time.perf_counter() - self.started
            self.progress.line(f"still {self.name} ({waited:.0f}s)")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
