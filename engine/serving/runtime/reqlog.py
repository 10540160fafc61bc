"""Request/prediction log: parquet files for monitoring.

Rows are buffered and written in chunks (one file per flush, named by process and time), so
logging costs the request path a list append. In the server (``background=True``) a chunk
that comes due is written by a helper thread: writing parquet on the event loop would stall
every request in flight for tens of milliseconds. :meth:`RequestLog.flush` waits for those
writes, so nothing is lost at shutdown. The rows arrive already masked: the runtime
applies the recipe's PII masking to the inputs before the model or this log sees them.

Each row carries ``_status`` (the HTTP status answered) and ``_outcome``; ``_req`` is 1 on
the first row of each request (a batch request logs one row per record), so monitoring counts
requests as well as rows. A request answered with an error is one row with its status,
outcome and latency and no feature value (a refused body may hold anything).

With encryption at rest on (``$SOUS_ENCRYPTION_KEY``, :mod:`engine.security.at_rest`) each
file is sealed whole (Fernet): no logged value is readable on disk without the key. Readers
open a file at a time (``engine.monitor.scan``), so memory stays bounded by the flush size.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.home import private_dir
from engine.security import at_rest

if TYPE_CHECKING:
    from engine.serving.runtime.outcomes import Failure


class RequestLog:
    """Buffers logged predictions and writes them to ``directory`` as parquet files."""

    def __init__(
        self,
        directory: str | Path,
        *,
        flush_rows: int = 512,
        flush_s: float = 5.0,
        background: bool = False,
    ):
        self.directory = Path(directory)
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self.background = background
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._writers: list[threading.Thread] = []  # background chunk writes in progress
        self.background_writes = 0  # chunks written off the caller's thread (tests)

    def write(
        self,
        records: Sequence[Mapping[str, Any]],
        preds: Sequence[Mapping[str, Any]],
        *,
        one_request: bool = True,
        **meta: Any,
    ) -> None:
        """Log one request's rows (already masked) with their predictions and ``meta``
        (``status`` 200 and ``outcome`` "ok" unless given). ``one_request`` False: each row
        is a request of its own (a stream's events, logged a batch at a time)."""
        ts = time.time()
        meta = {"status": 200, "outcome": "ok", **meta}
        rows = []
        for i, (rec, pred) in enumerate(zip(records, preds, strict=True)):
            row = dict(rec)
            row["_ts"] = ts
            row["_req"] = 1 if i == 0 or not one_request else 0
            row["_prediction"] = json.dumps(pred.get("prediction"))
            probs = pred.get("probabilities")
            row["_probabilities"] = json.dumps(probs) if probs is not None else None
            row["_request_id"] = pred.get("request_id")  # joins /feedback labels
            row.update({f"_{k}": v for k, v in meta.items()})
            rows.append(row)
        self._append(rows)

    def write_failure(self, failure: Failure, *, role: str = "served") -> None:
        """Log a request answered with an error: one row, no feature value, no prediction."""
        self._append(
            [
                {
                    "_ts": time.time(),
                    "_req": 1,
                    "_status": failure.status,
                    "_outcome": failure.outcome,
                    "_latency_ms": failure.latency_ms,
                    "_endpoint": failure.endpoint,
                    "_role": role,
                    "_variant": failure.variant,
                    "_version": failure.version,
                }
            ]
        )

    def _append(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self._rows.extend(rows)
            due = len(self._rows) >= self.flush_rows or time.monotonic() - self._last > self.flush_s
            if due and self.background:
                chunk, self._rows = self._rows, []
                self._last = time.monotonic()
                self._writers = [t for t in self._writers if t.is_alive()]
                # not a daemon: the interpreter waits for it, so an exit loses no row
                writer = threading.Thread(target=self._write, args=(chunk,), name="sous-reqlog")
                self._writers.append(writer)
                self.background_writes += 1
                writer.start()
                return
        if due:
            self.flush()

    def flush(self) -> Path | None:
        """Write buffered rows to a new parquet file, after the background writes still
        running; returns its path (None if nothing was buffered)."""
        with self._lock:
            rows, self._rows = self._rows, []
            self._last = time.monotonic()
            writers, self._writers = self._writers, []
        for writer in writers:
            writer.join()
        return self._write(rows)

    def _write(self, rows: list[dict[str, Any]]) -> Path | None:
        if not rows:
            return None
        import pandas as pd

        private_dir(self.directory)
        name = f"requests-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = self.directory / f".{name}.tmp"
        path = self.directory / f"{name}.parquet"
        if at_rest.enabled():  # sealed in memory, written owner-only and atomically
            import io

            buf = io.BytesIO()
            pd.DataFrame(rows).to_parquet(buf, index=False)
            at_rest.write_sealed(path, buf.getvalue())
            return path
        # created owner-only before a byte is written: the rows are what clients sent
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        pd.DataFrame(rows).to_parquet(tmp, index=False)
        tmp.replace(path)  # readers never see a half-written file
        return path
