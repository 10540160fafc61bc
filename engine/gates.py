"""``select.gates``: thresholds a winner must meet before it is packaged and promoted.

An expression is ``OP NUMBER`` (absolute) or ``OP production [+|- NUMBER]`` (relative to
the metric of the model currently aliased ``production``). With no production model, a
relative gate passes with a note: the first model of a name has nothing to beat.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.errors import UserError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_EXPR = re.compile(
    rf"^\s*(?P<op>>=|<=|>|<)\s*(?:(?P<prod>production)\s*(?:(?P<sign>[+-])\s*(?P<delta>{_NUM}))?"
    rf"|(?P<num>{_NUM}))\s*$"
)


@dataclass(frozen=True)
class Gate:
    metric: str
    op: str
    value: float  # the threshold, or the offset from production when relative
    relative: bool
    expr: str


@dataclass(frozen=True)
class GateCheck:
    """The outcome of one gate, for the run record and the report."""

    gate: Gate
    value: float | None
    threshold: float | None
    passed: bool
    message: str


@dataclass(frozen=True)
class GateResult:
    passed: bool
    failures: tuple[str, ...]
    details: tuple[GateCheck, ...]


def parse_gate(metric: str, expr: str) -> Gate:
    """Parse one gate; a bad expression is a UserError at ``select.gates.<metric>``."""
    m = _EXPR.match(str(expr))
    if m is None:
        raise UserError(
            f"select.gates.{metric}: cannot read gate {expr!r} "
            "(expected 'OP NUMBER' or 'OP production [+|- NUMBER]', OP one of >= > <= <)",
            key_path=f"select.gates.{metric}",
            hint=f'e.g. {metric}: ">= 0.7" or {metric}: ">= production + 0.01"',
        )
    if m["prod"]:
        delta = float(m["delta"] or 0.0) * (-1 if m["sign"] == "-" else 1)
        return Gate(metric, m["op"], delta, True, str(expr))
    return Gate(metric, m["op"], float(m["num"]), False, str(expr))


def parse_gates(gates: Mapping[str, str]) -> tuple[Gate, ...]:
    return tuple(parse_gate(metric, expr) for metric, expr in gates.items())


def _evaluate(gate: Gate, value: float, production: Mapping[str, float] | None) -> GateCheck:
    if gate.relative:
        base = None if production is None else production.get(gate.metric)
        if base is None or math.isnan(base):
            note = f"{gate.metric}: no production model to compare with; gate {gate.expr!r} passes"
            return GateCheck(gate, value, None, True, note)
        threshold = base + gate.value
        origin = f" (production {base:.3f} {'+' if gate.value >= 0 else '-'} {abs(gate.value):.3f})"
    else:
        threshold, origin = gate.value, ""
    if not math.isnan(value) and _OPS[gate.op](value, threshold):
        return GateCheck(
            gate,
            value,
            threshold,
            True,
            f"{gate.metric} {value:.3f} {gate.op} {threshold:.3f}{origin}",
        )
    word = "short" if gate.op in (">=", ">") else "over"
    gap = "" if math.isnan(value) else f" ({word} by {abs(threshold - value):.3f})"
    msg = f"{gate.metric} {value:.3f} {_NEGATED[gate.op]} {threshold:.3f}{gap}{origin}"
    return GateCheck(gate, value, threshold, False, msg)


def check_gates(
    gates: Mapping[str, str],
    metrics: Mapping[str, float],
    production: Mapping[str, float] | None,
) -> GateResult:
    """Check every gate against the winner's test metrics (and production's)."""
    checks = []
    for gate in parse_gates(gates):
        if gate.metric not in metrics:
            close = difflib.get_close_matches(gate.metric, list(metrics), n=1)
            raise UserError(
                f"select.gates.{gate.metric}: no metric {gate.metric!r} "
                f"(the run computed {sorted(metrics)})",
                key_path=f"select.gates.{gate.metric}",
                hint=f"did you mean {close[0]!r}?" if close else None,
            )
        checks.append(_evaluate(gate, float(metrics[gate.metric]), production))
    failures = tuple(c.message for c in checks if not c.passed)
    return GateResult(not failures, failures, tuple(checks))
