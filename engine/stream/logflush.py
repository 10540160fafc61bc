"""The request log of a stream, written off the scoring path.

A micro-batch only appends its rows to the log's buffer; a thread writes the buffer to a
parquet file every ``every_s`` seconds (and at close). Writing a file takes 5-40 ms, which
at 1,000 events/s would otherwise land on whichever batch filled the buffer. The log is for
monitoring, not part of the exactly-once output: a crash loses at most the last interval.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class BackgroundLog:
    def __init__(self, directory: Path, every_s: float = 1.0):
        from engine.serving.runtime.reqlog import RequestLog

        # never due on the caller's thread: the flusher below writes
        self.log = RequestLog(directory, flush_rows=2**62, flush_s=float("inf"))
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sous-stream-reqlog", daemon=True)
        self._thread.start()

    def write(
        self, records: Sequence[Mapping[str, Any]], preds: Sequence[Mapping[str, Any]], **meta: Any
    ) -> None:
        self.log.write(records, preds, **meta)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.log.flush()

    def close(self) -> None:
        """Stop the flusher and write what is buffered."""
        self._stop.set()
        self._thread.join()
        self.log.flush()
