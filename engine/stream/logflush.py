"""The request log of a stream, written off the scoring path.

A micro-batch only queues a job that builds its log rows; a thread runs the jobs and writes
the buffer to a parquet file every ``every_s`` seconds (and at close). Building the rows and
writing a file take 5-40 ms, which at 1,000 events/s would otherwise land on the batches. The log is for
monitoring, not part of the exactly-once output: a crash loses at most the last interval.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any


class BackgroundLog:
    def __init__(self, directory: Path, every_s: float = 1.0, max_queued: int = 64):
        from engine.serving.runtime.reqlog import RequestLog

        # never due on the caller's thread: the thread below writes
        self.log = RequestLog(directory, flush_rows=2**62, flush_s=float("inf"))
        self.every_s = every_s
        self.max_queued = max_queued
        self._jobs: deque[Callable[[Any], None]] = deque()
        self._error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sous-stream-reqlog", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[Any], None]) -> None:
        """``job(request_log)`` builds a batch's log rows and writes them, on the thread;
        inline when the thread is behind (bounded memory). A job that failed on the thread
        raises here, as it would have inline."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if len(self._jobs) >= self.max_queued:
            job(self.log)
        else:
            self._jobs.append(job)

    def _drain(self) -> None:
        while self._jobs:
            self._jobs.popleft()(self.log)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.05):
            try:
                self._drain()
                if time.monotonic() - last >= self.every_s:
                    self.log.flush()
                    last = time.monotonic()
            except Exception as exc:  # reported by the next submit
                self._error = exc

    def close(self) -> None:
        """Stop the thread; write what is queued and buffered."""
        self._stop.set()
        self._thread.join()
        self._drain()
        self.log.flush()
