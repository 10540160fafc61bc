"""Windowed features with several consumers: events routed to consumers by key hash.

Window state is per key, and a key's features depend on its earlier events, in order. A
consumer group hands a key's events to whichever consumer asks first, so two consumers
would each see part of a key's history (and race on it). Instead, with ``--workers N`` and
``features.windows``, consumer ``i`` of ``N`` owns the keys whose stable hash is ``i``
modulo ``N``: it reads the whole stream through its own consumer group (``GROUP-pIofN``),
keeps the events of its keys, in stream order, and acknowledges the others unread. Each key
then has one consumer, one window state (in that consumer's checkpoint) and one order: the
features equal a single consumer's and the batch path's, and the commit protocol of one
consumer (exactly once across ``kill -9``) holds per partition unchanged. A killed
consumer's task is rerun by Dask under the same name: it resumes from its checkpoint and its
group's pending entries.

The partition count is recorded next to the checkpoints (``partitions.json``): the state of
``N`` partitions cannot be split into ``M``, so another count is refused.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from dataclasses import dataclass
from typing import Any

from engine.errors import UserError
from engine.specs import StreamEndpointSpec, frozen_map, thaw
from engine.stream.context import StreamContext
from engine.stream.events import Event

LAYOUT_FILE = "partitions.json"


@dataclass(frozen=True)
class Partition:
    """Consumer ``index`` of ``count``: the keys whose hash is ``index`` modulo ``count``."""

    index: int
    count: int
    key: str  # the event field holding the entity key (features.windows.key)

    def owns(self, event: Event) -> bool:
        return partition_of(event.fields.get(self.key), self.count) == self.index

    def source_spec(self, spec: StreamEndpointSpec) -> StreamEndpointSpec:
        """The source as this partition reads it: its own consumer group (Redis), or the
        same files (a directory source already gives every consumer every file)."""
        if spec.kind == "directory":
            return spec
        options = dict(thaw(spec.options))
        group = str(options.get("group") or "sous")
        options["group"] = f"{group}-p{self.index}of{self.count}"
        return dataclasses.replace(spec, options=frozen_map(options))


def partition_of(key: Any, count: int) -> int:
    """Stable across processes and runs (CRC-32 of the key as window state names it; a
    missing key goes to partition 0, which dead-letters it)."""
    if key is None or count <= 1:
        return 0
    from engine.features.state import state_key

    return zlib.crc32(state_key(key).encode()) % count


def partitions_for(ctx: StreamContext, workers: int) -> list[Partition] | None:
    """One partition per consumer for a windowed stream (None without windows); checks the
    count against the one the checkpoints were made with, and pins the groups' start."""
    if ctx.windows is None:
        return None
    kind = ctx.stream.source.kind
    if workers > 1 and kind not in ("redis", "directory"):
        raise UserError(
            f"windowed features with --workers {workers} need a source that can give every "
            f"partition the whole stream; {kind!r} cannot",
            key_path="stream.source.kind",
            hint="use a redis or directory source, or --workers 1",
        )
    _check_layout(ctx, workers)
    parts = [Partition(i, workers, ctx.windows.key) for i in range(workers)]
    if workers > 1 and kind == "redis":
        _create_groups(ctx, parts)
    return parts


def recorded_partitions(ctx: StreamContext) -> list[Partition] | None:
    """The partitions a windowed stream was run with, when more than one."""
    path = ctx.state_dir / LAYOUT_FILE
    if ctx.windows is None or not path.exists():
        return None
    count = int(json.loads(path.read_text()).get("partitions", 1))
    return [Partition(i, count, ctx.windows.key) for i in range(count)] if count > 1 else None


def _check_layout(ctx: StreamContext, workers: int) -> None:
    path = ctx.state_dir / LAYOUT_FILE
    if path.exists():
        before = int(json.loads(path.read_text()).get("partitions", 1))
    elif ctx.checkpoint_dir.is_dir() and any(ctx.checkpoint_dir.glob("*.json")):
        before = 1  # checkpoints made before partitions were recorded: one consumer
    else:
        ctx.state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"partitions": workers}))
        return
    if before != workers:
        raise UserError(
            f"this windowed stream's state is split into {before} partition(s), not {workers}",
            key_path="features.windows",
            hint=f"run with --workers {before}, or read the stream afresh under another "
            "stream.source.group (window state cannot be re-split)",
        )


def _create_groups(ctx: StreamContext, parts: list[Partition]) -> None:
    """Every partition's group starts at the same entry: with ``start: $`` each would
    otherwise begin wherever the stream was when its consumer first ran."""
    import redis

    opts = ctx.stream.source.options
    client = redis.Redis.from_url(str(opts["url"]))
    try:
        start = str(opts.get("start", "0"))
        if start == "$":
            try:
                last = client.xinfo_stream(str(opts["stream"]))["last-generated-id"]
                start = last.decode() if isinstance(last, bytes) else str(last)
            except redis.ResponseError:  # no stream yet: everything that arrives
                start = "0"
        for p in parts:
            group = str(p.source_spec(ctx.stream.source).options["group"])
            try:
                client.xgroup_create(str(opts["stream"]), group, id=start, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
    finally:
        client.close()
