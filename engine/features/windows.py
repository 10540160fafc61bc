"""The window kernel shared by the batch and the stream paths.

An aggregation of a row at time ``t`` covers the entity's events with ``start <= ts < t``:
strictly before the row (no leakage of the row's own or later events); ``start`` is
``t - window`` for a sliding window and the start of the window-aligned bucket holding ``t``
for a tumbling one. Times are int64 nanoseconds since the epoch (UTC).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from engine.specs import WindowFeatureSpec

NS = 1_000_000_000
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(text: Any) -> float:
    """ "5m", "1h", "7d", "30s", "250ms" (or a number of seconds) -> seconds; ValueError else."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"negative duration {text!r}")
        return float(text)
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*", str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 5m, 1h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def window_start(t: int, spec: WindowFeatureSpec) -> int:
    """The first nanosecond of the window a row at ``t`` aggregates over."""
    width = round(spec.window_s * NS)
    if spec.kind == "tumbling":
        return (t // width) * width
    return t - width


def bounds(ts: Sequence[int], t: int, spec: WindowFeatureSpec) -> tuple[int, int]:
    """[lo, hi) of the events (sorted by time) that a row at ``t`` sees."""
    return bisect_left(ts, window_start(t, spec)), bisect_left(ts, t)


def aggregate(agg: str, values: Sequence[Any]) -> Any:
    """One aggregation over the values of the events in a window (nulls skipped, except by
    ``count`` of events and ``last``). Empty windows: 0 for counts and sums, None else."""
    import numpy as np

    if agg == "count":
        return len(values)
    if agg == "last":
        return values[-1] if len(values) else None
    if agg == "distinct":
        return len({v for v in values if not _is_null(v)})
    arr = np.asarray([math.nan if _is_null(v) else v for v in values], dtype="float64")
    arr = arr[~np.isnan(arr)]
    if agg == "sum":
        return float(arr.sum()) if arr.size else 0.0
    if not arr.size:
        return None
    if agg == "mean":
        return float(arr.sum()) / arr.size
    if agg == "min":
        return float(arr.min())
    if agg == "max":
        return float(arr.max())
    raise ValueError(f"unknown aggregation {agg!r}")


def _is_null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def to_ns(values: pd.Series, where: str = "features.windows.time") -> pd.Series:
    """Event times as int64 ns since the epoch: datetimes (naive ones read as UTC), ISO text,
    or numbers of seconds since the epoch."""
    import pandas as pd

    try:
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return (values.astype("float64") * NS).round().astype("int64")
        parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise UserError(
            f"event times cannot be read: {exc}",
            key_path=where,
            hint="use ISO 8601 times (2026-01-31T12:00:00Z) or epoch seconds",
        ) from None
    if parsed.isna().any():
        raise UserError(
            "some event times are missing",
            key_path=where,
            hint="every event needs a time; drop or fix the rows without one",
        )
    return parsed.dt.as_unit("ns").astype("int64")


def empty_value(agg: str) -> Any:
    """What an aggregation over no events is (see :func:`aggregate`)."""
    return aggregate(agg, [])


def spec_to_plain(spec: Any) -> dict[str, Any]:
    """A WindowsSpec as plain data (the ``windows`` integration step carries it, so the
    step's cache key covers the definitions)."""
    return {
        "key": spec.key,
        "time": spec.time,
        "source": spec.source,
        "allowed_lateness_s": spec.allowed_lateness_s,
        "aggregations": [
            {"name": a.name, "agg": a.agg, "window_s": a.window_s, "column": a.column,
             "kind": a.kind}
            for a in spec.aggregations
        ],
    }  # fmt: skip


def spec_from_plain(data: Any) -> Any:
    """The inverse of :func:`spec_to_plain`."""
    from engine.specs import WindowFeatureSpec, WindowsSpec

    return WindowsSpec(
        key=str(data["key"]),
        time=str(data["time"]),
        source=data.get("source"),
        allowed_lateness_s=float(data.get("allowed_lateness_s", 0.0)),
        aggregations=tuple(
            WindowFeatureSpec(
                name=str(a["name"]),
                agg=str(a["agg"]),
                window_s=float(a["window_s"]),
                column=a.get("column"),
                kind=str(a.get("kind", "sliding")),
            )
            for a in data["aggregations"]
        ),
    )
