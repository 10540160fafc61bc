"""Run progress: a live status line on a terminal, plain log lines otherwise.

Every line also goes to the run's log file, which is kept with the run record.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TextIO

from engine.execution.compile import Task

log = logging.getLogger("sous")


class Progress:
    """Counts done / total, names the running step, counts cache hits."""

    def __init__(self, stream: TextIO | None = None, log_file: Path | None = None):
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = 0
        self.done = 0
        self.cache_hits = 0
        self.started = time.perf_counter()
        self._last: str | None = None
        self._file = open(log_file, "a", encoding="utf-8") if log_file else None  # noqa: SIM115

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
        if self._file:
            self._file.close()

    def line(self, text: str) -> None:
        """A plain line (above the live status on a terminal)."""
        stamp = time.strftime("%H:%M:%S")
        if self._file:
            self._file.write(f"{stamp} {text}\n")
            self._file.flush()
        if self.live:
            self.stream.write("\r\033[K" + text + "\n")
            self._draw()
        else:
            self.stream.write(f"{stamp} {text}\n")
        self.stream.flush()

    def begin(self, executor: str, dashboard: str | None) -> None:
        where = f" (dashboard {dashboard})" if dashboard else ""
        self.line(f"executor: {executor}{where}")

    def add(self, to_run: int, loads: int = 0) -> None:
        """More tasks were submitted: ``to_run`` to compute, ``loads`` read from the cache."""
        self.total += to_run
        self.cache_hits += loads

    def task_done(self, task: Task) -> None:
        if task.mode != "compute":
            return
        self._last = task.node.step
        self.done += 1
        if self.live:
            if self._file:
                self._file.write(f"{time.strftime('%H:%M:%S')} done {task.node.step}\n")
            self._draw()
        else:
            self.line(f"[{self.done}/{self.total}] done {task.node.step}")

    def _draw(self) -> None:
        running = self._last or "-"
        elapsed = time.perf_counter() - self.started
        self.stream.write(
            f"\r\033[K[{self.done}/{self.total}] {elapsed:6.1f}s  cache loads {self.cache_hits}  "
            f"last done {running}"
        )
        self.stream.flush()
