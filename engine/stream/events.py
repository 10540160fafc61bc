"""An event as read from a source: the broker's id, the event's own id, and its fields."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """``broker_id`` acknowledges it at the source; ``event_id`` (the payload's own
    ``event_id`` when present, else ``broker_id``) identifies it for dedupe and in the sink."""

    broker_id: str
    event_id: str
    fields: Mapping[str, Any]


def from_fields(broker_id: str, raw: Mapping[Any, Any]) -> Event:
    """A Redis entry's fields: one ``data`` (or ``json``) field holding a JSON object, or flat
    fields whose values are JSON scalars or plain text."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    payload: dict[str, Any]
    body = fields.get("data", fields.get("json")) if len(fields) == 1 else None
    if body is not None:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        payload = decoded if isinstance(decoded, dict) else {"data": body}
    else:
        payload = {k: _scalar(v) for k, v in fields.items()}
    return make_event(broker_id, payload)


def make_event(broker_id: str, payload: Mapping[str, Any]) -> Event:
    own = payload.get("event_id")
    event_id = str(own) if own is not None and own != "" else broker_id
    return Event(broker_id=broker_id, event_id=event_id, fields=dict(payload))


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _scalar(text: str) -> Any:
    """ "12.5" -> 12.5, "true" -> True, "abc" -> "abc" (a JSON scalar, else the text)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool | str) or value is None else text


@dataclass(frozen=True)
class ConsumerLag:
    """One consumer of a group, as the broker sees it."""

    name: str
    pending: int
    idle_ms: int


@dataclass(frozen=True)
class SourceStatus:
    """Lag of the group (entries not yet delivered) and per-consumer pending entries."""

    lag: int | None
    pending: int
    consumers: tuple[ConsumerLag, ...] = ()
