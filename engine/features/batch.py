"""Point-in-time window features for training rows, from the historical events.

A pure function over frames, used by the ``windows`` integration step (``data.integrate:
[{windows: SOURCE}]``). A row at time ``t`` sees only its entity's events strictly before
``t``: no future leakage, and the same values the stream computes for an event at ``t``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import UserError
from engine.features.windows import aggregate, bounds, to_ns

if TYPE_CHECKING:
    import pandas as pd

    from engine.specs import WindowsSpec


def compute_windows(
    events: pd.DataFrame, rows: pd.DataFrame, spec: WindowsSpec, where: str = "features.windows"
) -> pd.DataFrame:
    """``rows`` (order kept) with one column per aggregation of ``spec``."""
    import pandas as pd

    _need(events, [spec.key, spec.time, *value_columns(spec)], where, "the events")
    _need(rows, [spec.key, spec.time], where, "the rows")
    ev = events.assign(_ts=to_ns(events[spec.time], f"{where}.time"))
    ev = ev.sort_values("_ts", kind="stable")
    row_ts = to_ns(rows[spec.time], f"{where}.time").to_numpy()
    out: dict[str, list[Any]] = {a.name: [None] * len(rows) for a in spec.aggregations}
    groups = {k: g for k, g in ev.groupby(spec.key, sort=False, dropna=True)}
    row_keys = rows[spec.key].tolist()
    cols = value_columns(spec)
    cached: dict[Any, tuple[list[int], dict[str, list[Any]]]] = {}
    for i, key in enumerate(row_keys):
        if key not in cached:
            g = groups.get(key)
            ts = g["_ts"].tolist() if g is not None else []
            vals = {c: _values(g[c]) if g is not None else [] for c in cols}
            cached[key] = (ts, vals)
        ts, vals = cached[key]
        t = int(row_ts[i])
        for a in spec.aggregations:
            lo, hi = bounds(ts, t, a)
            out[a.name][i] = aggregate(a.agg, vals[a.column][lo:hi] if a.column else ts[lo:hi])
    result = rows.copy()
    for a in spec.aggregations:
        dtype = output_dtype(a.agg, events, a.column)
        result[a.name] = pd.Series(out[a.name], index=rows.index, dtype=dtype)
    return result


def value_columns(spec: WindowsSpec) -> list[str]:
    return list(dict.fromkeys(a.column for a in spec.aggregations if a.column))


def output_dtype(agg: str, events: pd.DataFrame | None, column: str | None) -> str | None:
    """int64 for counts, float64 for numeric aggregations, the column's own for ``last``."""
    if agg in ("count", "distinct"):
        return "int64"
    if agg == "last":
        if events is None or column is None or column not in events.columns:
            return None
        import pandas as pd

        return "float64" if pd.api.types.is_numeric_dtype(events[column]) else "object"
    return "float64"


def _values(series: pd.Series) -> list[Any]:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype("float64").tolist()
    return [None if pd.isna(v) else v for v in series.tolist()]


def _need(frame: pd.DataFrame, cols: list[str], where: str, side: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        from engine.errors import choices_hint

        raise UserError(
            f"{side} have no column {missing[0]!r}",
            key_path=where,
            hint=choices_hint(missing[0], map(str, frame.columns)),
        )
