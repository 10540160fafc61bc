"""What runs cost, added up: by recipe, by model, or by day/week/month. The work behind
``sous runs cost``.

Every finished run record carries ``cost`` (CPU and wall seconds, GB-hours of peak memory,
an estimate at the recipe's prices and its currency: :func:`engine.run.results.cost`). Here
those are summed over records. By model, a run's whole cost goes to the model that won it
(the leaderboard's first row), and each model also gets the CPU of its own fit steps in every
run that trained it, won or not. Which models a run trained is read from its leaderboard;
fit steps are matched to them by their ``fit:<model>:`` name prefix. Estimates in different
currencies are never added: such groups get one row per currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.errors import UserError

GROUPINGS = ("recipe", "model", "day", "week", "month")
_UNITS = {"h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class RunCost:
    """The cost of one run, read from its record."""

    run_id: str
    recipe: str
    started_at: datetime
    winner: str | None
    models: tuple[str, ...]  # every model on the leaderboard
    cpu_s: float
    wall_s: float
    gb_hours: float
    estimate: float
    currency: str
    fit_cpu_s: Mapping[str, float] = field(default_factory=dict)  # model -> its fits' CPU


@dataclass(frozen=True)
class CostRow:
    group: str
    currency: str
    runs: int  # runs in the group (by model: runs that trained it)
    cpu_s: float
    wall_s: float
    gb_hours: float
    estimate: float
    won: int | None = None  # by model: runs it won (their whole cost is in this row)
    fit_cpu_s: float | None = None  # by model: CPU of its fit steps over all its runs


@dataclass(frozen=True)
class CostReport:
    by: str
    since: str | None
    rows: tuple[CostRow, ...]
    totals: tuple[CostRow, ...]  # one per currency, over every counted run
    skipped: int  # records without a cost (still running, or failed before it was known)

    def as_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "by": self.by,
            "since": self.since,
            "rows": [_drop_none(asdict(r)) for r in self.rows],
            "totals": [_drop_none(asdict(r)) for r in self.totals],
            "skipped": self.skipped,
        }


def _drop_none(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def run_cost(record: Mapping[str, Any]) -> RunCost | None:
    """The cost of ``record``; None when it has none (yet)."""
    cost = record.get("cost")
    if not isinstance(cost, Mapping):
        return None
    board = record.get("leaderboard") or []
    models = tuple(dict.fromkeys(str(r["model"]) for r in board if isinstance(r, Mapping)))
    winner = record.get("winner")
    return RunCost(
        run_id=str(record.get("run_id")),
        recipe=str(record.get("recipe")),
        started_at=_parse_time(str(record.get("started_at"))),
        winner=str(winner["model"]) if isinstance(winner, Mapping) else None,
        models=models,
        cpu_s=float(cost.get("cpu_s") or 0.0),
        wall_s=float(cost.get("wall_s") or 0.0),
        gb_hours=float(cost.get("gb_hours") or 0.0),
        estimate=float(cost.get("estimate") or 0.0),
        currency=str(cost.get("currency") or "?"),
        fit_cpu_s=_fit_cpu(record.get("steps") or [], models),
    )


def _fit_cpu(steps: Iterable[Any], models: tuple[str, ...]) -> dict[str, float]:
    """model -> CPU seconds of its fit steps (longest matching name first: ``rf`` vs ``rf2``)."""
    prefixes = sorted(((f"fit:{m}:", m) for m in models), key=lambda p: -len(p[0]))
    out: dict[str, float] = {}
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        name = str(step.get("name", ""))
        model = next((m for prefix, m in prefixes if name.startswith(prefix)), None)
        if model is not None:
            out[model] = out.get(model, 0.0) + float(step.get("cpu_s") or 0.0)
    return out


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: an ISO date or date-time (UTC unless it says), or an age: 12h, 7d, 4w."""
    t = text.strip()
    if t[-1:].lower() in _UNITS and t[:-1].replace(".", "", 1).isdigit():
        now = now or datetime.now(UTC)
        return now - timedelta(seconds=float(t[:-1]) * _UNITS[t[-1].lower()])
    try:
        return _parse_time(t)
    except ValueError:
        raise UserError(
            f"--since {text!r} is neither a date nor an age",
            hint="a date (2026-11-01), a date and time (2026-11-01T12:00) or an age (7d, 12h, 4w)",
        ) from None


def period(started_at: datetime, by: str) -> str:
    """The period label of a start time (UTC): 2026-11-30, 2026-W49, 2026-11."""
    t = started_at.astimezone(UTC)
    if by == "day":
        return t.strftime("%Y-%m-%d")
    if by == "week":
        year, week, _ = t.isocalendar()
        return f"{year}-W{week:02d}"
    return t.strftime("%Y-%m")


class _Sum:
    def __init__(self) -> None:
        self.runs = 0
        self.won = 0
        self.cpu_s = self.wall_s = self.gb_hours = self.estimate = self.fit_cpu_s = 0.0

    def add(self, c: RunCost) -> None:
        self.cpu_s += c.cpu_s
        self.wall_s += c.wall_s
        self.gb_hours += c.gb_hours
        self.estimate += c.estimate

    def row(self, group: str, currency: str, by_model: bool = False) -> CostRow:
        return CostRow(
            group=group,
            currency=currency,
            runs=self.runs,
            cpu_s=round(self.cpu_s, 3),
            wall_s=round(self.wall_s, 3),
            gb_hours=round(self.gb_hours, 6),
            estimate=round(self.estimate, 6),
            won=self.won if by_model else None,
            fit_cpu_s=round(self.fit_cpu_s, 3) if by_model else None,
        )


def aggregate(
    records: Iterable[Mapping[str, Any]], *, by: str = "recipe", since: datetime | None = None
) -> CostReport:
    """Sum the cost of ``records`` (started at or after ``since``) grouped ``by``."""
    if by not in GROUPINGS:
        raise UserError(f"--by {by!r} is not a grouping", hint=f"one of {', '.join(GROUPINGS)}")
    groups: dict[tuple[str, str], _Sum] = {}
    totals: dict[str, _Sum] = {}
    skipped = 0
    for record in records:
        c = run_cost(record)
        if c is None:
            skipped += 1
            continue
        if since is not None and c.started_at < since:
            continue
        total = totals.setdefault(c.currency, _Sum())
        total.runs += 1
        total.add(c)
        if by == "model":
            _add_by_model(groups, c)
            continue
        key = c.recipe if by == "recipe" else period(c.started_at, by)
        s = groups.setdefault((key, c.currency), _Sum())
        s.runs += 1
        s.add(c)
    order = (lambda kv: kv[0]) if by in ("day", "week", "month") else (lambda kv: -kv[1].estimate)
    rows = tuple(
        s.row(key, cur, by == "model") for (key, cur), s in sorted(groups.items(), key=order)
    )
    return CostReport(
        by=by,
        since=since.isoformat() if since else None,
        rows=rows,
        totals=tuple(s.row("total", cur) for cur, s in sorted(totals.items())),
        skipped=skipped,
    )


def _add_by_model(groups: dict[tuple[str, str], _Sum], c: RunCost) -> None:
    models = set(c.models) | set(c.fit_cpu_s) | ({c.winner} if c.winner else set())
    for m in models:
        s = groups.setdefault((m, c.currency), _Sum())
        s.runs += 1
        s.fit_cpu_s += c.fit_cpu_s.get(m, 0.0)
        if m == c.winner:
            s.won += 1
            s.add(c)
