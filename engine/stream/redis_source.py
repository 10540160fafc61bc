"""Redis Streams with a consumer group: XREADGROUP, XACK, XAUTOCLAIM.

The group is created on first use (``start``: ``0`` reads the stream from its beginning,
``$`` only what arrives later). A consumer first re-reads its own pending entries (delivered
before a crash, never acknowledged), then new ones (``>``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import RunError
from engine.specs import StreamEndpointSpec
from engine.stream.events import ConsumerLag, Event, SourceStatus, from_fields


class RedisSource:
    def __init__(self, spec: StreamEndpointSpec, consumer: str):
        import redis

        opts = dict(spec.options)
        self.stream = str(opts["stream"])
        self.group = str(opts.get("group") or "sous")
        self.consumer = consumer
        self.client = redis.Redis.from_url(str(opts["url"]))
        self._own_pending = True
        self._claim_cursor = "0-0"
        try:
            self.client.xgroup_create(
                self.stream, self.group, id=str(opts.get("start", "0")), mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise RunError(f"cannot create consumer group {self.group!r}: {exc}") from None
        except redis.ConnectionError as exc:
            raise RunError(f"cannot reach Redis at {opts['url']}: {exc}", step="stream") from None

    def read(self, count: int, block_ms: int) -> list[Event]:
        if self._own_pending:
            got = self._read("0", count, None)
            if got:
                return got
            self._own_pending = False
        return self._read(">", count, block_ms)

    def _read(self, start: str, count: int, block_ms: int | None) -> list[Event]:
        reply: Any = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=count, block=block_ms
        )
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3: {stream: entries}
            return self._events(next(iter(reply.values())))
        return self._events(reply[0][1])  # RESP2: [[stream, entries]]

    def _events(self, entries: Sequence[Any]) -> list[Event]:
        out, gone = [], []
        for entry_id, fields in entries:
            broker_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if fields is None:  # trimmed from the stream while pending: nothing to score
                gone.append(broker_id)
                continue
            out.append(from_fields(broker_id, fields))
        if gone:
            self.client.xack(self.stream, self.group, *gone)
        return out

    def ack(self, events: Sequence[Event]) -> None:
        if events:
            self.client.xack(self.stream, self.group, *[e.broker_id for e in events])

    def claim_idle(self, min_idle_ms: int, count: int) -> list[Event]:
        reply = self.client.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms, self._claim_cursor, count=count
        )
        cursor, entries = reply[0], reply[1]
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        return self._events(entries)

    def fence(self, events: Sequence[Event]) -> set[str]:
        """The broker ids of ``events`` this consumer still owns, their idle time reset (in
        one script: no claim can come between the check and the reset). Called just before
        the checkpoint: what another consumer claimed meanwhile is dropped from the batch,
        and what remains cannot be claimed for ``claim_idle_ms``, while the batch commits."""
        if not events:
            return set()
        ids = [e.broker_id for e in events]
        owned = self.client.eval(_FENCE, 1, self.stream, self.group, self.consumer, *ids)
        return {_text(i) for i in owned}

    def progress(self) -> Mapping[str, Any]:
        return {}

    def restore(self, progress: Mapping[str, Any]) -> None:
        pass

    def status(self) -> SourceStatus:
        groups = self.client.xinfo_groups(self.stream)
        mine = next((g for g in groups if _text(g.get("name")) == self.group), None)
        consumers = self.client.xinfo_consumers(self.stream, self.group) if mine else []
        return SourceStatus(
            lag=None if mine is None or mine.get("lag") is None else int(mine["lag"]),
            pending=int(mine.get("pending", 0)) if mine else 0,
            consumers=tuple(
                ConsumerLag(_text(c["name"]), int(c.get("pending", 0)), int(c.get("idle", 0)))
                for c in consumers
            ),
        )

    def close(self) -> None:
        self.client.close()


# KEYS[1] stream; ARGV: group, consumer, ids. Each id's pending entry names its owner;
# XCLAIM to the owner itself (JUSTID: no delivery counted) resets its idle time.
_FENCE = """
local owned = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then owned[#owned + 1] = ARGV[i] end
end
if #owned > 0 then
  local args = {KEYS[1], ARGV[1], ARGV[2], 0}
  for _, id in ipairs(owned) do args[#args + 1] = id end
  args[#args + 1] = 'JUSTID'
  redis.call('XCLAIM', unpack(args))
end
return owned
"""


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
