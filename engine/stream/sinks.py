"""Sinks: where scored rows (and dead letters) go, in two phases.

``stage`` writes a batch's rows to files under a staging directory; the consumer then writes
its checkpoint naming them, and ``publish`` makes them visible: a rename into the time
partition (parquet) or one MULTI/EXEC of XADDs guarded by a per-consumer sequence marker
(Redis). Both are idempotent, so a restart can publish again what the checkpoint names, and
deletes what it does not name. Readers of a parquet sink skip ``_staging`` (pyarrow ignores
paths starting with ``_``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.stream.checkpoint import Staged

if TYPE_CHECKING:
    import pandas as pd

    from engine.specs import StreamEndpointSpec


class Sink(Protocol):
    role: str  # "sink" | "dead_letter"

    def stage(self, seq: int, consumer: str, frame: pd.DataFrame, time_col: str) -> list[Staged]:
        """Write ``frame`` for batch ``seq`` where :meth:`publish` will find it."""
        ...

    def publish(self, staged: Staged) -> None:
        """Make one staged file visible; a no-op when it already is."""
        ...

    def staging_dir(self, consumer: str) -> Path: ...


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Atomically: a reader sees the whole file or none. Not fsynced here: the checkpoint
    that names a staged file makes it durable first (:meth:`CheckpointStore.save`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


class ParquetSink:
    """Files partitioned by the rows' hour: ``PATH/date=YYYY-MM-DD/hour=HH/CONSUMER-SEQ.parquet``."""

    def __init__(self, role: str, path: Path, partition: str = "hour"):
        self.role = role
        self.path = Path(path)
        self.partition = partition

    def staging_dir(self, consumer: str) -> Path:
        return self.path / "_staging" / consumer

    def stage(self, seq: int, consumer: str, frame: pd.DataFrame, time_col: str) -> list[Staged]:
        out = []
        for i, (part, rows) in enumerate(self._parts(frame, time_col)):
            name = f"{consumer}-{seq:012d}-{i}.parquet"
            staged = self.staging_dir(consumer) / name
            write_parquet(rows, staged)
            out.append(Staged(self.role, str(staged), str(self.path / part / name)))
        return out

    def _parts(self, frame: pd.DataFrame, time_col: str) -> list[tuple[str, pd.DataFrame]]:
        if self.partition == "none" or not len(frame):
            return [(".", frame)] if len(frame) else []
        fmt = "date=%Y-%m-%d/hour=%H" if self.partition == "hour" else "date=%Y-%m-%d"
        labels = frame[time_col].dt.strftime(fmt).fillna("date=unknown")
        return [(str(k), g) for k, g in frame.groupby(labels, sort=True)]

    def publish(self, staged: Staged) -> None:
        src, dst = Path(staged.staged), Path(staged.final)
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)


class RedisStreamSink:
    """Rows XADDed to ``stream`` (one JSON ``data`` field each); a marker key holds the last
    published batch of each consumer, in the same transaction as the XADDs."""

    def __init__(self, role: str, url: str, stream: str, state_dir: Path, maxlen: int | None):
        import redis

        self.role = role
        self.stream = stream
        self.client = redis.Redis.from_url(url)
        self.state_dir = Path(state_dir)
        self.maxlen = maxlen

    def staging_dir(self, consumer: str) -> Path:
        return self.state_dir / "_staging" / f"{self.role}-{consumer}"

    def stage(self, seq: int, consumer: str, frame: pd.DataFrame, time_col: str) -> list[Staged]:
        if not len(frame):
            return []
        staged = self.staging_dir(consumer) / f"{consumer}-{seq:012d}.parquet"
        write_parquet(frame, staged)
        return [Staged(self.role, str(staged), f"redis:{self.stream}:{consumer}:{seq}")]

    def publish(self, staged: Staged) -> None:
        import pandas as pd
        import redis

        src = Path(staged.staged)
        if not src.exists():
            return
        _, _, consumer, seq = staged.final.rsplit(":", 3)
        marker = f"{self.stream}:sous-published:{self.role}:{consumer}"
        frame = pd.read_parquet(src)
        rows = frame.to_json(orient="records", date_format="iso", lines=True).splitlines()
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(marker)
                    done = pipe.get(marker)
                    if done is not None and int(done) >= int(seq):
                        break
                    pipe.multi()
                    for row in rows:
                        pipe.xadd(self.stream, {"data": row}, maxlen=self.maxlen, approximate=True)
                    pipe.set(marker, int(seq))
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        src.unlink(missing_ok=True)


def open_sink(role: str, spec: StreamEndpointSpec, default_dir: Path, state_dir: Path) -> Sink:
    opts: dict[str, Any] = dict(spec.options)
    if spec.kind == "parquet":
        return ParquetSink(
            role, Path(opts.get("path") or default_dir), opts.get("partition", "hour")
        )
    if spec.kind == "redis":
        maxlen = opts.get("maxlen")
        return RedisStreamSink(
            role, str(opts["url"]), str(opts["stream"]), state_dir, int(maxlen) if maxlen else None
        )
    from engine.errors import UserError

    raise UserError(
        f"unknown stream {role} kind {spec.kind!r}",
        key_path=f"stream.{role}.kind",
        hint="use parquet or redis",
    )
