"""The run's report: the test step's evaluation rendered again with what only the run knows.

The test step's own ``report.html`` is keyed by content and shared by every run that reuses
it, so it cannot name a run or a model version. Once the run has released, this writes
``runs/RUN_ID/report.html``: the header (recipe, run, model, version), the leaderboard it
selected from and the data profile, around the same evaluation (:mod:`engine.report`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.report import LeaderRow, ReportContext, TradeoffDot, profile_rows, render_report
from engine.run.record import LeaderboardRow, RunRecord, TradeoffResult
from engine.run.report_reuse import rendered
from engine.security import at_rest


def _row(row: LeaderboardRow, metric: str, winner: LeaderboardRow | None) -> LeaderRow:
    score = row.metrics.get(metric)
    params = ", ".join(f"{k}={v}" for k, v in sorted(row.params.items()))
    return LeaderRow(
        model=row.model,
        score=float("nan") if score is None else float(score),
        std=row.metrics_std.get(metric),
        rank=row.rank or 0,
        winner=row is winner,
        params=params,
    )


def report_context(record: RunRecord, outputs: Mapping[str, Any]) -> ReportContext:
    """The header facts, leaderboard and profile of a released run."""
    results = record.results
    metric = results.select_metric if results else None
    winner = record.winner
    rows = tuple(_row(r, metric, winner) for r in results.leaderboard) if results and metric else ()
    profile = outputs.get("profile")
    return ReportContext(
        recipe=record.recipe,
        run_id=record.run_id,
        model=winner.model if winner else None,
        version=record.release.model_version if record.release else None,
        metric=metric,
        leaderboard=rows,
        profile=profile_rows(profile) if profile is not None else (),
        **_tradeoff(results.tradeoff if results else None),
    )


def _tradeoff(t: TradeoffResult | None) -> dict[str, Any]:
    """select.tradeoff's candidates and rule for the report's score-against-cost chart."""
    if t is None:
        return {}
    dots = tuple(TradeoffDot(c.model, c.score, c.cost, c.on_front, c.chosen) for c in t.candidates)
    within = f"{t.tolerance:g}" + (" (relative)" if t.relative else "")
    cost = " + ".join(f"{w:g}*{k}" for k, w in t.weights.items())
    rule = f"the cheapest model within {within} of the best {t.metric}; cost = {cost}"
    return {"tradeoff": dots, "tradeoff_rule": rule}


def write_run_report(record: RunRecord, outputs: Mapping[str, Any], directory: Path) -> str | None:
    """Write ``directory/report.html`` (atomically, owner-only, sealed when encryption at
    rest is on: it shows feature names and category values); its path, or None without a
    test step."""
    evaluation = outputs.get("test")
    if evaluation is None or not hasattr(evaluation, "y_true"):
        return None
    text = rendered(evaluation, report_context(record, outputs), render_report)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.html"
    at_rest.write_sealed(path, text.encode("utf-8"))
    return str(path)
