"""Run progress: a live status line on a terminal, plain log lines otherwise.

Every line also goes to the run's log file, which is kept with the run record.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TextIO

from engine.compile import Compiled, Task

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
        self._pending: list[Task] = []
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

    def begin(
        self, compiled: Compiled, total_nodes: int, executor: str, dashboard: str | None
    ) -> None:
        self.total = total_nodes
        self.cache_hits = total_nodes - len(compiled.to_compute)
        self.done = self.cache_hits
        self._pending = list(compiled.to_compute)
        where = f" (dashboard {dashboard})" if dashboard else ""
        self.line(
            f"plan: {total_nodes} steps, {self.cache_hits} cached, "
            f"{len(compiled.to_compute)} to run on {executor}{where}"
        )

    def task_done(self, task: Task) -> None:
        if task.mode != "compute":
            return
        self.done += 1
        self._pending = [t for t in self._pending if t.key != task.key]
        if self.live:
            if self._file:
                self._file.write(f"{time.strftime('%H:%M:%S')} done {task.node.step}\n")
            self._draw()
        else:
            self.line(f"[{self.done}/{self.total}] done {task.node.step}")

    def _draw(self) -> None:
        running = self._pending[0].node.step if self._pending else "-"
        elapsed = time.perf_counter() - self.started
        self.stream.write(
            f"\r\033[K[{self.done}/{self.total}] {elapsed:6.1f}s  cache hits {self.cache_hits}  "
            f"running {running}"
        )
        self.stream.flush()
