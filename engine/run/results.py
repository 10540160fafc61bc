"""The run record's parts, read from a finished plan: step rows, results, data, cost.

Roles come from the plan (``Plan.outputs``, ``Plan.sources``, ``Plan.roles``), never from
step names."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from engine.execution.runtime import Placement
from engine.plan import Plan
from engine.run.record import (
    Cost,
    DataSummary,
    FailedCheck,
    LeaderboardRow,
    OutOfCore,
    Results,
    RunRecord,
    StepRow,
    TradeoffPoint,
    TradeoffResult,
)
from engine.specs import CostSpec, RecipeSpec, thaw
from engine.store.cache import ArtifactCache
from engine.store.runs import now_iso


def start_record(spec: RecipeSpec, run_id: str, log_path: str) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        recipe=spec.name,
        started_at=now_iso(),
        config=thaw(spec.resolved),
        recipe_file=spec.source_file,
        log=log_path,
        pid=os.getpid(),  # with host: a "running" run whose driver is gone was interrupted
        host=socket.gethostname(),
    )


def run_started(record: RunRecord) -> float:
    """The run's start in seconds since the epoch: step offsets count from it."""
    return datetime.fromisoformat(record.started_at).timestamp()


def step_rows(
    plan: Plan,
    computed: set[str],
    cache: ArtifactCache,
    placements: Mapping[str, Placement] | None = None,
    started: float = 0.0,
) -> tuple[StepRow, ...]:
    """One row per plan node: whether it was a cache hit, what it cost in this run, and
    where and when it ran (``placements``; offsets from ``started``, the run's start)."""
    placements = placements or {}
    rows = []
    for key, node in plan.nodes.items():
        meta = cache.meta(key) if cache.has(key) else None
        ran = key in computed and meta is not None
        placed = placements.get(key) if key in computed else None
        rows.append(
            StepRow(
                name=node.step,
                key=key,
                cached=key not in computed,
                wall_s=round(meta.wall_s, 4) if (meta and ran) else 0.0,
                cpu_s=round(meta.cpu_s, 4) if (meta and ran) else 0.0,
                peak_mem_mb=round(meta.peak_mem_mb, 1) if (meta and ran) else 0.0,
                rows=meta.rows if meta else None,
                worker=placed.worker if placed else None,
                started_s=round(max(0.0, placed.started - started), 3) if placed else None,
            )
        )
    return tuple(rows)


def cost(steps: Iterable[StepRow], prices: CostSpec) -> Cost:
    """Totals and an estimate from prices per CPU-hour and per GB-hour of peak memory."""
    steps = list(steps)
    cpu_s = sum(s.cpu_s for s in steps)
    wall_s = sum(s.wall_s for s in steps)
    gb_h = sum(s.peak_mem_mb / 1024.0 * s.wall_s / 3600.0 for s in steps)
    estimate = cpu_s / 3600.0 * prices.cpu_hour + gb_h * prices.gb_hour
    return Cost(
        cpu_s=round(cpu_s, 3),
        wall_s=round(wall_s, 3),
        gb_hours=round(gb_h, 6),
        estimate=round(estimate, 6),
        currency=prices.currency,
        cpu_hour=prices.cpu_hour,
        gb_hour=prices.gb_hour,
    )


def results(plan: Plan, outputs: Mapping[str, Any], cache: ArtifactCache) -> Results:
    """Leaderboard, test metrics, data counts, profile and report from the run's outputs."""
    selection = outputs["selection"]
    leaderboard = tuple(
        LeaderboardRow(
            model=t.model,
            params=thaw(t.params),
            metrics=dict(t.metrics),
            metrics_std=dict(t.metrics_std),
            folds=tuple(dict(f) for f in t.folds),
            rank=selection.ranks[i] if selection.ranks else None,
            tied=selection.tied(i),
        )
        for i, t in enumerate(selection.leaderboard)
    )
    test_key = plan.outputs["test"]
    report = None
    if cache.has(test_key) and "report.html" in cache.meta(test_key).artifacts:
        report = str(cache.artifact_path(test_key, "report.html"))
    return Results(
        leaderboard=leaderboard,
        select_metric=selection.metric,
        test_metrics=dict(outputs["test"].metrics),
        report=report,
        data=data_summary(plan, cache),
        profile=_profile_dict(outputs.get("profile")),
        chosen=getattr(selection, "chosen", 0),
        tradeoff=tradeoff_result(selection.tradeoff) if selection.tradeoff else None,
    )


def tradeoff_result(t: Any) -> TradeoffResult:
    """The record's part of a :class:`engine.steps.tradeoff.Tradeoff`."""
    return TradeoffResult(
        metric=t.metric,
        greater_is_better=t.greater_is_better,
        tolerance=t.tolerance,
        relative=t.relative,
        weights=dict(t.weights),
        batch_rows=t.batch_rows,
        repeats=t.repeats,
        candidates=tuple(
            TradeoffPoint(
                model=c.model,
                params=thaw(c.params),
                score=c.score,
                latency_ms=round(c.latency_ms, 6),
                size_mb=round(c.size_mb, 6),
                train_cpu_s=c.train_cpu_s,
                cost=round(c.cost, 6),
                on_front=c.on_front,
                chosen=i == t.chosen,
            )
            for i, c in enumerate(t.candidates)
        ),
    )


def data_summary(plan: Plan, cache: ArtifactCache) -> DataSummary:
    sources = {
        name: (cache.meta(key).rows if cache.has(key) else None)
        for name, key in plan.sources.items()
    }
    key = plan.outputs["data"]
    meta = cache.meta(key)
    ingest = plan.roles.get("ingest")
    if ingest is not None:
        return _out_of_core_summary(cache, ingest, sources, meta.rows)
    n_quarantined = meta.artifact_rows.get("quarantine.parquet", 0)
    integrate = plan.roles.get("integrate")
    has_failures = meta.artifact_rows.get(FAILURES, 0) > 0
    return DataSummary(
        sources=sources,
        rows_in=cache.meta(integrate).rows if integrate and cache.has(integrate) else None,
        rows_out=meta.rows,
        quarantined=n_quarantined,
        quarantine_path=(
            str(cache.artifact_path(key, "quarantine.parquet")) if n_quarantined else None
        ),
        steps=_integrate_steps(cache, integrate),
        failed_checks=failed_checks(cache, key) if has_failures else (),
        failures_path=str(cache.artifact_path(key, FAILURES)) if has_failures else None,
    )


FAILURES = "failures.parquet"  # the validate step's table: row, column, check, value


def failed_checks(cache: ArtifactCache, key: str) -> tuple[FailedCheck, ...]:
    """Each (column, check) of the validate step's failure table with its failing rows
    (a check on the whole frame, without rows, counts 0)."""
    import io

    import pandas as pd

    table = pd.read_parquet(io.BytesIO(cache.read_artifact(key, FAILURES)))
    out = []
    for (column, check), group in table.groupby(["column", "check"], sort=False, dropna=False):
        col = None if column is None or column != column or column in ("None", "nan") else column
        out.append(FailedCheck(col, str(check), int(group["row"].dropna().nunique())))
    return tuple(out)


def _out_of_core_summary(
    cache: ArtifactCache, ingest_key: str, sources: Mapping[str, int | None], sample: int | None
) -> DataSummary:
    """Counts of an out-of-core ingest: rows in, good, quarantined (on disk), and sampled."""
    result = cache.load(ingest_key)  # a small record of counts and directories
    return DataSummary(
        sources=sources,
        rows_in=result.rows_in,
        rows_out=result.rows_good,
        quarantined=result.rows_quarantined,
        quarantine_path=result.quarantine_dir if result.rows_quarantined else None,
        out_of_core=OutOfCore(result.partitions, sample, result.good_dir),
    )


def _integrate_steps(cache: ArtifactCache, key: str | None) -> tuple[Mapping[str, Any], ...]:
    """Rows in and out of every integration step (join, union, as-of, dedupe, ...)."""
    if key is None or not cache.has(key) or "steps.json" not in cache.meta(key).artifacts:
        return ()
    return tuple(json.loads(cache.read_artifact(key, "steps.json")))  # sealed if encrypted


def _profile_dict(profile: Any) -> dict[str, Any] | None:
    if profile is None:
        return None
    to_dict = getattr(profile, "to_dict", None)
    return to_dict() if callable(to_dict) else None
