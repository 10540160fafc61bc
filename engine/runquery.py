"""Questions asked of run records (public JSON): ``--where`` conditions on metrics, the
compact summary ``sous runs ls --json`` prints, and the comparison of ``sous runs compare``.
Pure functions of records: no store, no I/O."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.errors import UserError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "==": operator.eq,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|==|=|>|<)\s*(-?[\d.eE+-]+)\s*$")


@dataclass(frozen=True)
class Condition:
    """``metric OP number`` on the winner's validation metric (``test.NAME``: its test one)."""

    metric: str
    op: str
    value: float

    def holds(self, record: Mapping[str, Any]) -> bool:
        got = metric_of(record, self.metric)
        return got is not None and _OPS[self.op](got, self.value)


def conditions(text: str) -> tuple[Condition, ...]:
    """``f1>0.9,test.accuracy>=0.8`` -> conditions; a malformed one is a user error."""
    out = []
    for part in [p for p in text.split(",") if p.strip()]:
        m = _CONDITION.match(part)
        try:
            value = float(m[3]) if m else None
        except ValueError:
            value = None
        if m is None or value is None:
            raise UserError(
                f"--where {part.strip()!r} is not a condition: METRIC OP NUMBER, e.g. f1>0.9 "
                "(OP: > >= < <= == !=)",
                key_path="--where",
                hint="quote it for the shell: --where 'f1>0.9,test.f1>=0.85'",
            )
        out.append(Condition(m[1], m[2], value))
    return tuple(out)


def matches(record: Mapping[str, Any], tests: Sequence[Condition]) -> bool:
    return all(t.holds(record) for t in tests)


def metric_of(record: Mapping[str, Any], name: str) -> float | None:
    if name.startswith("test."):
        value = (record.get("test_metrics") or {}).get(name[5:])
    else:
        value = ((record.get("winner") or {}).get("metrics") or {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def started(record: Mapping[str, Any]) -> datetime:
    """When the run started (UTC); the epoch when the record does not say."""
    try:
        at = datetime.fromisoformat(str(record.get("started_at")))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run in a few fields (``sous runs ls --json``; ``--full`` gives whole records)."""
    winner = record.get("winner") or {}
    metric = record.get("select_metric")
    return {
        "run_id": record.get("run_id"),
        "recipe": record.get("recipe"),
        "status": record.get("status"),
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
        "winner": winner.get("model"),
        "metric": metric,
        "score": (winner.get("metrics") or {}).get(metric) if metric else None,
        "test_metrics": dict(record.get("test_metrics") or {}),
        "model_version": record.get("model_version"),
        "bento": record.get("bento"),
    }


def compare(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The config keys whose values differ between runs, and each run's metrics."""
    flat = [_flatten(r.get("config") or {}) for r in records]
    keys = sorted({k for f in flat for k in f})
    differ = {k: [f.get(k) for f in flat] for k in keys if len({repr(f.get(k)) for f in flat}) > 1}
    return {
        "runs": [summary(r) for r in records],
        "config_diff": differ,
        "metrics": sorted(
            {m for r in records for m in ((r.get("winner") or {}).get("metrics") or {})}
        ),
        "test_metrics": sorted({m for r in records for m in (r.get("test_metrics") or {})}),
    }


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: value}
