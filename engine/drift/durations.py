"""Durations (``30s``, ``5m``, ``2h``, ``7d``) and points in time for monitoring windows."""

from __future__ import annotations

import re
import time

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``text`` (a number of seconds, or NUMBER + s|m|h|d|w); ValueError if not."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text <= 0:
            raise ValueError(f"a duration must be positive, got {text}")
        return float(text)
    m = _DURATION.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration (expected e.g. 30s, 5m, 2h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds of ``text``: an ISO 8601 date-time (UTC unless it says otherwise), epoch
    seconds, or a duration meaning that long ago (``2h``); ValueError if none of these."""
    from datetime import UTC, datetime

    now = time.time() if now is None else now
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time (expected an ISO date-time such as 2026-01-31T12:00, "
            "epoch seconds, or a duration ago such as 2h)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
