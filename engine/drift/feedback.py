"""Ground truth: labels posted to ``/feedback``, joined with the request log on request id.

The server writes each accepted ``/feedback`` call as one owner-only parquet file under the
model's serving directory (``feedback/``). ``sous monitor`` reads them, keeps the last label
per request id, and scans the request log once for the rows those ids name: memory grows
with the labels received in the window, never with the traffic.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.security import at_rest

MAX_ID_CHARS = 128
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Feedback:
    request_id: str
    label: Any  # a JSON scalar


def parse(body: Any) -> list[Feedback]:
    """``{request_id, label}`` or a list of them; ValueError says what is wrong (answered
    400 by the server). Labels are JSON scalars; ids are the ``request_id`` of an answer."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise ValueError("feedback must hold at least one {request_id, label}")
    if len(items) > MAX_ITEMS:
        raise ValueError(f"at most {MAX_ITEMS} feedback items per call, got {len(items)}")
    out = []
    for i, item in enumerate(items):
        where = f"item {i}: " if isinstance(body, list) else ""
        if not isinstance(item, Mapping) or set(item) != {"request_id", "label"}:
            raise ValueError(f"{where}expected an object with exactly request_id and label")
        rid, label = item["request_id"], item["label"]
        if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID_CHARS:
            raise ValueError(f"{where}request_id must be a string of 1..{MAX_ID_CHARS} chars")
        if not isinstance(label, str | int | float | bool) or (
            isinstance(label, float) and label != label
        ):
            raise ValueError(f"{where}label must be a string, number or boolean")
        out.append(Feedback(rid, label))
    return out


class FeedbackLog:
    """Writes accepted feedback at once (one small parquet file per call, owner-only)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def write(self, items: Sequence[Feedback]) -> Path | None:
        if not items:
            return None
        import pyarrow as pa
        import pyarrow.parquet as pq

        from engine.home import private_dir

        private_dir(self.directory)
        table = pa.table(
            {
                "request_id": pa.array([f.request_id for f in items], pa.string()),
                "label": pa.array([json.dumps(f.label) for f in items], pa.string()),
                "_ts": pa.array([time.time()] * len(items), pa.float64()),
            }
        )
        name = f"feedback-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = self.directory / f".{name}.tmp"
        path = self.directory / f"{name}.parquet"
        if at_rest.enabled():  # sealed (encryption at rest): labels are data too
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            at_rest.write_sealed(path, sink.getvalue().to_pybytes())
            return path
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        pq.write_table(table, tmp)
        tmp.replace(path)
        return path


def read_labels(directory: str | Path, since: float | None = None) -> dict[str, Any]:
    """request id -> label (the last one posted wins)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = sorted(Path(directory).glob("*.parquet")) if Path(directory).is_dir() else []
    if not files:
        return {}
    columns = ["request_id", "label", "_ts"]
    parts = [  # a file at a time: each may be sealed (encryption at rest)
        pq.read_table(pa.BufferReader(at_rest.read_sealed(f)), columns=columns) for f in files
    ]
    table = pa.concat_tables(parts)
    if since is not None:
        table = table.filter(pc.greater_equal(table.column("_ts"), since))
    table = table.sort_by("_ts")
    return {
        rid: json.loads(label)
        for rid, label in zip(
            table.column("request_id").to_pylist(), table.column("label").to_pylist(), strict=True
        )
    }
