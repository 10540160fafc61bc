"""Window features maintained incrementally per entity key, for a stream.

Each key keeps its events (time and the aggregated columns) sorted by time, back to the
*horizon*: the longest window behind the watermark. The watermark is the latest event time
seen minus the allowed lateness; an event older than it is *late* (the caller routes it to
the dead-letter sink) and never enters the state, so a late event cannot change features
already served. The state serialises to JSON (checkpoints hold no pickles).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.features.windows import NS, aggregate, bounds
from engine.specs import WindowsSpec


@dataclass
class KeyEvents:
    """One entity's recent events, sorted by time (ties in arrival order)."""

    ts: list[int] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)


class WindowState:
    """Per-key window state; ``features`` then ``add`` for each event, in arrival order."""

    def __init__(self, spec: WindowsSpec):
        self.spec = spec
        self.columns = list(dict.fromkeys(a.column for a in spec.aggregations if a.column))
        self.keys: dict[str, KeyEvents] = {}
        self.max_ts: int | None = None
        self._lateness = round(spec.allowed_lateness_s * NS)
        self._horizon = round(spec.horizon_s * NS)

    @property
    def watermark(self) -> int | None:
        return None if self.max_ts is None else self.max_ts - self._lateness

    def is_late(self, t: int) -> bool:
        wm = self.watermark
        return wm is not None and t < wm

    def features(self, key: Any, t: int) -> dict[str, Any]:
        """The aggregations a row of ``key`` at time ``t`` sees (events strictly before t)."""
        events = self.keys.get(state_key(key))
        out: dict[str, Any] = {}
        for a in self.spec.aggregations:
            if events is None:
                out[a.name] = aggregate(a.agg, [])
                continue
            lo, hi = bounds(events.ts, t, a)
            values = events.values[a.column][lo:hi] if a.column else events.ts[lo:hi]
            out[a.name] = aggregate(a.agg, values)
        return out

    def add(self, key: Any, t: int, row: Mapping[str, Any]) -> None:
        """Record an event; advances the watermark and evicts what no window can reach."""
        events = self.keys.setdefault(state_key(key), KeyEvents())
        if not events.values:
            events.values = {c: [] for c in self.columns}
        at = bisect_right(events.ts, t)
        events.ts.insert(at, t)
        for c in self.columns:
            events.values[c].insert(at, plain_value(row.get(c)))
        if self.max_ts is None or t > self.max_ts:
            self.max_ts = t

    def evict(self) -> int:
        """Drop events older than the watermark minus the horizon; how many were dropped."""
        wm = self.watermark
        if wm is None:
            return 0
        cutoff = wm - self._horizon
        dropped = 0
        for name in list(self.keys):
            events = self.keys[name]
            n = 0
            while n < len(events.ts) and events.ts[n] < cutoff:
                n += 1
            if n:
                dropped += n
                del events.ts[:n]
                for c in self.columns:
                    del events.values[c][:n]
            if not events.ts:
                del self.keys[name]
        return dropped

    def to_json(self) -> dict[str, Any]:
        return {
            "max_ts": self.max_ts,
            "keys": {
                k: {"ts": list(e.ts), "values": {c: list(vs) for c, vs in e.values.items()}}
                for k, e in self.keys.items()
            },
        }

    @classmethod
    def from_json(cls, spec: WindowsSpec, data: Mapping[str, Any] | None) -> WindowState:
        state = cls(spec)
        if not data:
            return state
        state.max_ts = data.get("max_ts")
        for k, e in data.get("keys", {}).items():
            values = {c: list(e["values"].get(c, [])) for c in state.columns}
            state.keys[k] = KeyEvents(ts=[int(t) for t in e["ts"]], values=values)
        return state


def state_key(key: Any) -> str:
    """Keys as text (JSON object keys): 7, 7.0 and "7" are one entity, as in a join."""
    if isinstance(key, float) and key.is_integer():
        key = int(key)
    return str(key)


def plain_value(v: Any) -> Any:
    """A value as the batch path sees it: numbers as float, nulls as None."""
    item = getattr(v, "item", None)
    if callable(item):
        v = item()
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return v
