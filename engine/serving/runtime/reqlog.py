"""Request/prediction log: parquet files for monitoring, with PII columns masked.

Rows are buffered and written in chunks (one file per flush, named by process and time), so
logging costs the request path a list append. Masking follows the recipe's ``data.pii`` map:
``hash`` (salted SHA-256, salt from an env var, the same on every replica), ``drop`` and
``redact``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PII_ACTIONS = ("hash", "drop", "redact")
REDACTED = "***"


def mask_value(value: Any, action: str, salt: str) -> Any:
    if value is None:
        return None
    if action == "hash":
        return hashlib.sha256(f"{salt}{value}".encode()).hexdigest()[:16]
    if action == "redact":
        return REDACTED
    raise ValueError(f"unknown PII action {action!r}; expected one of {PII_ACTIONS}")


def mask_record(record: Mapping[str, Any], pii: Mapping[str, str], salt: str) -> dict[str, Any]:
    """A copy of ``record`` with PII columns hashed, redacted or dropped."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        action = pii.get(k)
        if action == "drop":
            continue
        out[k] = v if action is None else mask_value(v, action, salt)
    return out


class RequestLog:
    """Buffers logged predictions and writes them to ``directory`` as parquet files."""

    def __init__(
        self,
        directory: str | Path,
        *,
        pii: Mapping[str, str] | None = None,
        salt_env: str = "SOUS_PII_SALT",
        flush_rows: int = 512,
        flush_s: float = 5.0,
    ):
        self.directory = Path(directory)
        self.pii = dict(pii or {})
        self.salt = os.environ.get(salt_env, "")
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def write(
        self, records: Sequence[Mapping[str, Any]], preds: Sequence[Mapping[str, Any]], **meta: Any
    ) -> None:
        """Log one request's rows (features masked) with their predictions and ``meta``."""
        ts = time.time()
        rows = []
        for rec, pred in zip(records, preds, strict=True):
            row = mask_record(rec, self.pii, self.salt)
            row["_ts"] = ts
            row["_prediction"] = json.dumps(pred.get("prediction"))
            probs = pred.get("probabilities")
            row["_probabilities"] = json.dumps(probs) if probs is not None else None
            row.update({f"_{k}": v for k, v in meta.items()})
            rows.append(row)
        with self._lock:
            self._rows.extend(rows)
            due = len(self._rows) >= self.flush_rows or time.monotonic() - self._last > self.flush_s
        if due:
            self.flush()

    def flush(self) -> Path | None:
        """Write buffered rows to a new parquet file; returns its path (None if empty)."""
        with self._lock:
            rows, self._rows = self._rows, []
            self._last = time.monotonic()
        if not rows:
            return None
        import pandas as pd

        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"requests-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = self.directory / f".{name}.tmp"
        path = self.directory / f"{name}.parquet"
        pd.DataFrame(rows).to_parquet(tmp, index=False)
        tmp.replace(path)  # readers never see a half-written file
        return path
