"""A directory of arriving files (parquet, csv, jsonl): each file counts once.

Writers should create a file under a name starting with ``.`` or ``_`` and rename it when
complete (such names are skipped). Files are read oldest first (modification time, then
name). The checkpoint holds the files done and how far into the current one the committed
batches reached, so a restart neither skips nor repeats a row.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.specs import StreamEndpointSpec
from engine.stream.events import Event, SourceStatus, make_event

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}


class DirectorySource:
    def __init__(self, spec: StreamEndpointSpec, consumer: str):
        self.path = Path(str(spec.options["path"]))
        self.format = spec.options.get("format")
        self.pattern = str(spec.options.get("pattern", "*"))
        self.consumer = consumer
        self.done: set[str] = set()
        self.current: str | None = None
        self.offset = 0  # rows of ``current`` handed out
        self._rows: list[dict[str, Any]] = []

    def _pending_files(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        files = [
            p
            for p in self.path.glob(self.pattern)
            if p.is_file() and not p.name.startswith((".", "_")) and p.name not in self.done
        ]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def _open_next(self) -> bool:
        files = [p for p in self._pending_files() if p.name != self.current]
        if not files:
            return False
        path = files[0]
        self.current, self.offset = path.name, 0
        self._rows = read_rows(path, self.format)
        return True

    def read(self, count: int, block_ms: int) -> list[Event]:
        deadline = time.monotonic() + block_ms / 1000
        while True:
            if self.current is not None and self.offset >= len(self._rows):
                self.done.add(self.current)
                self.current, self._rows = None, []
            if self.current is None and not self._open_next():
                if time.monotonic() >= deadline:
                    return []
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
                continue
            take = self._rows[self.offset : self.offset + count]
            start = self.offset
            self.offset += len(take)
            if take:
                return [
                    make_event(f"{self.current}:{start + i}", row) for i, row in enumerate(take)
                ]

    def ack(self, events: Sequence[Event]) -> None:
        """Nothing to tell: progress travels in the checkpoint (:meth:`progress`)."""

    def claim_idle(self, min_idle_ms: int, count: int) -> list[Event]:
        return []

    def progress(self) -> Mapping[str, Any]:
        return {"done": sorted(self.done), "current": self.current, "offset": self.offset}

    def restore(self, progress: Mapping[str, Any]) -> None:
        self.done = set(progress.get("done", []))
        current = progress.get("current")
        if current and (self.path / current).exists():
            self.current = str(current)
            self.offset = int(progress.get("offset", 0))
            self._rows = read_rows(self.path / self.current, self.format)

    def status(self) -> SourceStatus:
        return SourceStatus(lag=len(self._pending_files()), pending=0)

    def close(self) -> None:
        pass


def read_rows(path: Path, fmt: Any = None) -> list[dict[str, Any]]:
    """A file's rows as plain dicts (nulls as None, times as ISO text)."""
    import pandas as pd

    kind = fmt or FORMATS.get(path.suffix.lower())
    if kind == "parquet":
        frame = pd.read_parquet(path)
    elif kind == "csv":
        frame = pd.read_csv(path)
    elif kind == "jsonl":
        import json

        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    else:
        raise UserError(
            f"cannot read {path.name}: unknown file format",
            key_path="stream.source.format",
            hint="name files .parquet, .csv or .jsonl, or set stream.source.format",
        )
    import json

    return list(json.loads(frame.to_json(orient="records", date_format="iso")))
