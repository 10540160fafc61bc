"""A consumer's checkpoint: the commit point of every micro-batch.

One JSON file per consumer, replaced atomically (write, fsync, rename): it is either the old
or the new one, never half. It names the batch sequence number, the files staged for that
batch (published after it is written, again on restart if needed), the window state, the
recent event ids (replays are dropped), counters and the source's own progress.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Staged:
    """A file written for batch ``seq``, to be moved to ``final`` (or sent, for a Redis sink)."""

    sink: str  # "sink" | "dead_letter"
    staged: str
    final: str


@dataclass
class Counters:
    events_in: int = 0
    events_out: int = 0
    dead_lettered: int = 0
    late: int = 0
    replays: int = 0
    fenced: int = 0  # events dropped at commit: another consumer had claimed them


@dataclass
class Checkpoint:
    consumer: str
    seq: int = 0
    staged: list[Staged] = field(default_factory=list)
    window_state: Mapping[str, Any] | None = None
    recent_ids: list[str] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    source: Mapping[str, Any] = field(default_factory=dict)  # e.g. a directory's done files
    model_version: str | None = None
    written_at: float = 0.0
    started_at: float = 0.0
    pid: int = 0  # the process that wrote it (status; tests kill it)


class CheckpointStore:
    """Checkpoints under ``directory`` (one file per consumer)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._pool: Any = None

    def path(self, consumer: str) -> Path:
        return self.directory / f"{consumer}.json"

    def load(self, consumer: str) -> Checkpoint:
        path = self.path(consumer)
        if not path.exists():
            return Checkpoint(consumer=consumer, started_at=time.time())
        return _from_json(json.loads(path.read_text()))

    def save(self, cp: Checkpoint) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        cp.written_at = time.time()
        cp.pid = os.getpid()
        path = self.path(cp.consumer)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "w") as fh:
            json.dump(_to_json(cp), fh, separators=(",", ":"))
        # the files it names are durable before it is: sinks stage without fsync, and all
        # fsyncs of a batch run at once (the journal commits them together: one disk wait)
        staged = [Path(s.staged) for s in cp.staged if Path(s.staged).exists()]
        self._sync([tmp, *staged, *{p.parent for p in staged}])
        os.replace(tmp, path)
        _fsync(self.directory)

    def _sync(self, paths: list[Path]) -> None:
        if len(paths) == 1:
            _fsync(paths[0])
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(4, thread_name_prefix="sous-fsync")
        list(self._pool.map(_fsync, paths))

    def all(self) -> list[Checkpoint]:
        if not self.directory.is_dir():
            return []
        return [
            _from_json(json.loads(p.read_text())) for p in sorted(self.directory.glob("*.json"))
        ]


def _to_json(cp: Checkpoint) -> dict[str, Any]:
    """Field by field: ``asdict`` would deep-copy the window state on every batch."""
    return {
        "consumer": cp.consumer,
        "seq": cp.seq,
        "staged": [asdict(s) for s in cp.staged],
        "window_state": cp.window_state,
        "recent_ids": cp.recent_ids,
        "counters": asdict(cp.counters),
        "source": dict(cp.source),
        "model_version": cp.model_version,
        "written_at": cp.written_at,
        "started_at": cp.started_at,
        "pid": cp.pid,
    }


def _from_json(data: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(
        consumer=str(data["consumer"]),
        seq=int(data.get("seq", 0)),
        staged=[Staged(**s) for s in data.get("staged", [])],
        window_state=data.get("window_state"),
        recent_ids=list(data.get("recent_ids", [])),
        counters=Counters(**data.get("counters", {})),
        source=dict(data.get("source") or {}),
        model_version=data.get("model_version"),
        written_at=float(data.get("written_at", 0.0)),
        started_at=float(data.get("started_at", 0.0)),
        pid=int(data.get("pid", 0)),
    )


def _fsync(path: Path) -> None:
    """A file's data, or a directory's entries, on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
