"""Data quality on the stream: the recipe's schema, per micro-batch, row by row.

A bad event never stops the stream: it goes to the dead-letter sink with its reasons. Types
are checked per event first (one event with text in a numeric column must not fail the
column for the whole batch), then the schema's value checks run with pandera. The target
column (absent from live events) and whole-frame checks (uniqueness over a batch means
nothing) are left out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.specs import EMPTY, ColumnSpec, SchemaSpec
from engine.stream.events import Event

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Rejected:
    event: Event
    reason: str


class BatchChecker:
    """The stream's view of a recipe schema, compiled once."""

    def __init__(self, schema: SchemaSpec, target: str):
        columns = tuple(
            dataclasses.replace(c, unique=False, dtype=None)
            for c in schema.columns
            if c.name != target
        )
        self.dtypes = {c.name: c.dtype for c in schema.columns if c.name != target}
        self.types = {name: _kind(dtype) for name, dtype in self.dtypes.items()}
        self.columns = columns
        self.compiled = None
        if columns:
            from engine.validation import compile_schema

            spec = dataclasses.replace(
                schema, columns=columns, checks=EMPTY, strict=False, coerce=False
            )
            self.compiled = compile_schema(spec)

    def check(self, events: Sequence[Event]) -> tuple[list[Event], list[Rejected]]:
        bad: dict[int, list[str]] = {}
        for i, e in enumerate(events):
            for col in self.columns:
                value = e.fields.get(col.name)
                reason = _type_problem(col, value, self.types[col.name], self.dtypes[col.name])
                if reason:
                    bad.setdefault(i, []).append(reason)
        candidates = [i for i in range(len(events)) if i not in bad]
        if self.compiled is not None and candidates:
            for i, reasons in self._values([events[i] for i in candidates]).items():
                bad.setdefault(candidates[i], []).extend(reasons)
        good = [e for i, e in enumerate(events) if i not in bad]
        rejected = [Rejected(events[i], "; ".join(r)) for i, r in sorted(bad.items())]
        return good, rejected

    def _values(self, events: Sequence[Event]) -> dict[int, list[str]]:
        from engine.validation import failure_table

        frame = self.frame(events)
        _, table = failure_table(frame, self.compiled)  # type: ignore[arg-type]
        out: dict[int, list[str]] = {}
        for rec in table.to_dict("records"):
            what = f"{rec['column']}:{rec['check']}"
            rows = (
                range(len(events))
                if rec["row"] is None or rec["row"] != rec["row"]
                else [int(rec["row"])]
            )
            for r in rows:
                if what not in out.setdefault(r, []):
                    out[r].append(what)
        return out

    def frame(self, events: Sequence[Event]) -> pd.DataFrame:
        import pandas as pd

        data: dict[str, Any] = {}
        for col in self.columns:
            values = [e.fields.get(col.name) for e in events]
            kind = self.types[col.name]
            if kind in ("int", "float"):
                data[col.name] = pd.to_numeric(pd.Series(values, dtype=object))
            else:
                data[col.name] = pd.Series(values, dtype=object)
        return pd.DataFrame(data)


def _kind(dtype: str | None) -> str | None:
    if not dtype:
        return None
    d = dtype.lower()
    if d.startswith(("int", "uint")):
        return "int"
    if d.startswith("float"):
        return "float"
    if d in ("str", "string", "object", "category"):
        return "str"
    if d.startswith("bool"):
        return "bool"
    return None


def _type_problem(col: ColumnSpec, value: Any, kind: str | None, dtype: Any) -> str | None:
    if value is None:
        if col.required and not col.nullable:
            return f"{col.name}:not_nullable"
        return None
    ok = {
        None: True,
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
    }[kind]
    return None if ok else f"{col.name}:dtype({dtype})"
