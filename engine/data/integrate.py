"""Integration of several sources into one frame: join, union, as-of, dedupe, then the
schema mapping (rename, cast) and the final de-duplication. Row counts in and out of every
step are recorded so a run can show where rows were lost or multiplied."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import UserError, choices_hint

if TYPE_CHECKING:
    import pandas as pd

    from engine.specs import DataSpec, IntegrateSpec

JOIN_HOWS = ("inner", "left", "outer")
ASOF_DIRECTIONS = ("backward", "forward", "nearest")
OPS = ("join", "union", "asof", "dedupe", "windows")


@dataclass(frozen=True)
class StepCount:
    op: str
    rows_in: int
    rows_out: int


@dataclass(frozen=True)
class IntegrateResult:
    frame: pd.DataFrame
    stats: tuple[StepCount, ...]

    @property
    def rows_out(self) -> int:
        return len(self.frame)

    def artifacts(self) -> dict[str, object]:
        """Row counts in and out of every integration step, for the run record."""
        import json

        steps = [{"op": s.op, "rows_in": s.rows_in, "rows_out": s.rows_out} for s in self.stats]
        return {"steps.json": json.dumps(steps)}


def _keys(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def _need_columns(frame: pd.DataFrame, cols: Sequence[str], where: str, side: str) -> None:
    for col in cols:
        if col not in frame.columns:
            raise UserError(
                f"{side} has no column {col!r}",
                key_path=where,
                hint=choices_hint(col, map(str, frame.columns)),
            )


def _pair(opts: Mapping[str, Any], name: str, where: str) -> tuple[list[str], list[str]]:
    """``on`` for both sides, or ``left_<name>``/``right_<name>`` for different key names."""
    both = _keys(opts.get(name))
    left, right = _keys(opts.get(f"left_{name}")), _keys(opts.get(f"right_{name}"))
    if both and (left or right):
        raise UserError(
            f"give either {name} or left_{name}/right_{name}, not both",
            key_path=where,
            hint=f"keep {name} when the key has one name on both sides",
        )
    if both:
        return both, both
    if len(left) != len(right):
        raise UserError(
            f"left_{name} and right_{name} must name the same number of columns",
            key_path=where,
            hint=f"got left_{name}={left} and right_{name}={right}",
        )
    return left, right


def join(
    left: pd.DataFrame, right: pd.DataFrame, opts: Mapping[str, Any], where: str
) -> pd.DataFrame:
    """Inner/left/outer join; right-side keys with other names are folded into the left's."""
    how = str(opts.get("how", "left"))
    if how not in JOIN_HOWS:
        raise UserError(
            f"unknown join how {how!r}", key_path=f"{where}.how", hint=choices_hint(how, JOIN_HOWS)
        )
    lk, rk = _pair(opts, "on", where)
    if not lk:
        raise UserError("a join needs keys", key_path=where, hint="add on: KEY or left_on/right_on")
    _need_columns(left, lk, f"{where}.on", "the left side")
    _need_columns(right, rk, f"{where}.on", f"source {opts['_source']!r}")
    suffixes = tuple(opts.get("suffixes") or ("", f"_{opts['_source']}"))
    if len(suffixes) != 2:
        raise UserError(
            "suffixes must be two strings", key_path=f"{where}.suffixes", hint='e.g. ["", "_usage"]'
        )
    out = left.merge(right, how=how, left_on=lk, right_on=rk, suffixes=suffixes)
    for lcol, rcol in zip(lk, rk, strict=True):
        if lcol != rcol and rcol in out.columns:
            out[lcol] = out[lcol].fillna(out[rcol]) if how == "outer" else out[lcol]
            out = out.drop(columns=[rcol])
    return out


def union(
    top: pd.DataFrame, bottom: pd.DataFrame, opts: Mapping[str, Any], where: str
) -> pd.DataFrame:
    """Stack rows; columns missing on one side are nulls, dtypes unified by pandas rules."""
    import pandas as pd

    columns = list(top.columns) + [c for c in bottom.columns if c not in top.columns]
    parts = [f.reindex(columns=columns) for f in (top, bottom) if len(f)]
    if not parts:
        return top.reindex(columns=columns)
    return pd.concat(parts, ignore_index=True)


_UNITS = {
    "w": "weeks", "week": "weeks", "weeks": "weeks",
    "d": "days", "day": "days", "days": "days",
    "h": "hours", "hour": "hours", "hours": "hours",
    "m": "minutes", "min": "minutes", "minute": "minutes", "minutes": "minutes",
    "s": "seconds", "sec": "seconds", "second": "seconds", "seconds": "seconds",
    "ms": "milliseconds",
}  # fmt: skip


def parse_duration(value: Any) -> Any:
    """ "1d", "12h", "30min", "2 weeks" -> Timedelta (pandas deprecates lower-case "d")."""
    import re

    import pandas as pd

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", str(value))
    if m and m.group(2).lower() in _UNITS:
        return pd.Timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
    return pd.Timedelta(str(value))


def _tolerance(value: Any, on_dtype: Any, where: str) -> Any:
    import pandas as pd

    if value is None:
        return None
    if pd.api.types.is_datetime64_any_dtype(on_dtype) or pd.api.types.is_timedelta64_dtype(
        on_dtype
    ):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise UserError(
                f"bad as-of tolerance {value!r}: {exc}",
                key_path=f"{where}.tolerance",
                hint="write a duration such as 1d, 12h, 30min",
            ) from None
    return value


def _same_time_unit(left: pd.Series, right: pd.Series) -> pd.Series:
    """merge_asof needs identical datetime resolutions on both sides."""
    import pandas as pd

    if (
        pd.api.types.is_datetime64_any_dtype(left)
        and pd.api.types.is_datetime64_any_dtype(right)
        and left.dtype != right.dtype
    ):
        return right.astype(left.dtype)
    return right


def asof(
    left: pd.DataFrame, right: pd.DataFrame, opts: Mapping[str, Any], where: str
) -> pd.DataFrame:
    """Nearest-key join for sources at different rates; keeps the left's row order and rows
    whose ``on`` is null (they get nulls on the right)."""
    import pandas as pd

    direction = str(opts.get("direction", "backward"))
    if direction not in ASOF_DIRECTIONS:
        raise UserError(
            f"unknown as-of direction {direction!r}",
            key_path=f"{where}.direction",
            hint=choices_hint(direction, ASOF_DIRECTIONS),
        )
    lon, ron = _pair(opts, "on", where)
    lby, rby = _pair(opts, "by", where)
    if len(lon) != 1:
        raise UserError(
            "an as-of join needs exactly one on column", key_path=f"{where}.on", hint="on: ts"
        )
    _need_columns(left, lon + lby, where, "the left side")
    _need_columns(right, ron + rby, where, f"source {opts['_source']!r}")
    right = right.copy()
    right[ron[0]] = _same_time_unit(left[lon[0]], right[ron[0]])
    tol = _tolerance(opts.get("tolerance"), left[lon[0]].dtype, where)
    left = left.reset_index(drop=True)
    known = left[lon[0]].notna()
    order = "_sous_row"
    lhs = left[known].assign(**{order: left.index[known]}).sort_values(lon[0], kind="stable")
    rhs = right[right[ron[0]].notna()].sort_values(ron[0], kind="stable")
    merged = pd.merge_asof(
        lhs, rhs, left_on=lon[0], right_on=ron[0], left_by=lby or None, right_by=rby or None,
        direction=direction, tolerance=tol, suffixes=("", f"_{opts['_source']}"),
    )  # fmt: skip
    merged = pd.concat([merged, left[~known].assign(**{order: left.index[~known]})])
    merged = merged.sort_values(order).drop(columns=[order]).reset_index(drop=True)
    drop = [
        r for l_, r in zip(lon + lby, ron + rby, strict=True) if r != l_ and r in merged.columns
    ]
    return merged.drop(columns=drop)


def dedupe(
    frame: pd.DataFrame, keys: Sequence[str], where: str, keep: str = "last"
) -> pd.DataFrame:
    """Drop rows repeating the keys, keeping the last (the most recent record wins)."""
    if keep not in ("first", "last"):
        raise UserError(
            f"unknown dedupe keep {keep!r}",
            key_path=f"{where}.keep",
            hint="use keep: first or keep: last",
        )
    _need_columns(frame, keys, where, "the integrated data")
    return frame.drop_duplicates(subset=list(keys) or None, keep=keep).reset_index(drop=True)  # type: ignore[arg-type]


def _dedupe_keys(spec: IntegrateSpec) -> list[str]:
    for name in ("on", "keys", "subset"):
        if name in spec.options:
            return _keys(spec.options[name])
    return _keys(spec.source)


def windows(
    rows: pd.DataFrame, events: pd.DataFrame, opts: Mapping[str, Any], where: str
) -> pd.DataFrame:
    """``features.windows`` over ``events``, point in time for each row (engine/features)."""
    from engine.features.batch import compute_windows
    from engine.features.windows import spec_from_plain

    return compute_windows(events, rows, spec_from_plain(opts["definitions"]), where)


Binary = Callable[["pd.DataFrame", "pd.DataFrame", Mapping[str, Any], str], "pd.DataFrame"]
_BINARY: dict[str, Binary] = {"join": join, "union": union, "asof": asof, "windows": windows}


def apply_op(
    frame: pd.DataFrame, spec: IntegrateSpec, frames: Mapping[str, pd.DataFrame], where: str
) -> pd.DataFrame:
    """One entry of ``data.integrate``."""
    if spec.op == "dedupe":
        return dedupe(frame, _dedupe_keys(spec), where, str(spec.options.get("keep", "last")))
    if spec.op not in _BINARY:
        raise UserError(
            f"unknown integrate step {spec.op!r}", key_path=where, hint=choices_hint(spec.op, OPS)
        )
    if spec.source is None or spec.source not in frames:
        raise UserError(
            f"{spec.op} names source {spec.source!r}, which is not declared",
            key_path=f"{where}.{spec.op}",
            hint=choices_hint(str(spec.source), frames),
        )
    opts = {**spec.options, "_source": spec.source}
    return _BINARY[spec.op](frame, frames[spec.source], opts, where)


def cast(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """``data.cast``: astype per column; ``datetime``/``datetime64[...]`` parse text."""
    import pandas as pd

    out = frame.copy()
    for col, dtype in dtypes.items():
        where = f"data.cast.{col}"
        _need_columns(out, [col], where, "the integrated data")
        try:
            if str(dtype).startswith("datetime"):
                parsed = pd.to_datetime(out[col])
                out[col] = parsed if dtype == "datetime" else parsed.astype(dtype)
            else:
                out[col] = out[col].astype(dtype)
        except (ValueError, TypeError) as exc:
            raise UserError(
                f"cannot cast column {col!r} to {dtype!r}: {exc}",
                key_path=where,
                hint="fix the data, or choose a dtype that fits (e.g. Int64 or float64 when nulls are present)",
            ) from None
    return out


def integrate_frames(frames: Mapping[str, pd.DataFrame], data: DataSpec) -> IntegrateResult:
    """Base table = first source; ops in order; then rename, cast, final dedupe."""
    if not data.sources:
        raise UserError(
            "no data sources declared", key_path="data.sources", hint="add at least one source"
        )
    base = data.sources[0].name
    for i, spec in enumerate(data.integrate):
        if spec.op in _BINARY and spec.source not in frames:
            raise UserError(
                f"{spec.op} names source {spec.source!r}, which is not declared",
                key_path=f"data.integrate[{i}].{spec.op}",
                hint=choices_hint(str(spec.source), frames),
            )
    used = {base} | {s.source for s in data.integrate if s.op != "dedupe" and s.source}
    unused = [s.name for s in data.sources if s.name not in used]
    if unused:
        raise UserError(
            f"source(s) {unused} are declared but never integrated",
            key_path="data.integrate",
            hint=f"add {{join: {unused[0]}, on: KEY}} (or union/asof), or remove the source",
        )
    frame = frames[base]
    stats: list[StepCount] = []
    for i, spec in enumerate(data.integrate):
        rows_in = len(frame)
        frame = apply_op(frame, spec, frames, f"data.integrate[{i}]")
        stats.append(
            StepCount(f"{spec.op}:{spec.source}" if spec.source else spec.op, rows_in, len(frame))
        )
    if data.rename:
        _need_columns(frame, list(data.rename), "data.rename", "the integrated data")
        frame = frame.rename(columns=dict(data.rename))
    if data.cast:
        frame = cast(frame, data.cast)
    if data.dedupe:
        rows_in = len(frame)
        frame = dedupe(frame, data.dedupe, "data.dedupe")
        stats.append(StepCount("dedupe", rows_in, len(frame)))
    return IntegrateResult(frame=frame.reset_index(drop=True), stats=tuple(stats))
