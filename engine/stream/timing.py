"""Event times of a micro-batch, as int64 ns; None for an event whose time cannot be read."""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import UserError
from engine.stream.events import Event


def event_times(events: Sequence[Event], column: str | None) -> list[int | None]:
    if column is None or not events:
        return [None] * len(events)
    import pandas as pd

    from engine.features.windows import to_ns

    values = [e.fields.get(column) for e in events]
    try:
        return [int(t) for t in to_ns(pd.Series(values))]
    except (UserError, ValueError, TypeError, OverflowError):
        return [_one(v) for v in values]


def _one(value: object) -> int | None:
    import pandas as pd

    from engine.features.windows import to_ns

    if value is None or isinstance(value, bool):
        return None
    try:
        return int(to_ns(pd.Series([value]))[0])
    except (UserError, ValueError, TypeError, OverflowError):
        return None
