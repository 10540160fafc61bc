"""The run record: the public JSON of ``sous runs show ID --json``, assembled from run outputs.

Fields: run_id, recipe, status, started_at, finished_at, config, leaderboard, winner,
test_metrics, bento, steps, data, profile, gate, cost, totals, log, report, error.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping
from typing import Any

from engine.plan import Plan
from engine.specs import CostSpec, RecipeSpec, thaw
from engine.store.cache import ArtifactCache
from engine.store.runs import now_iso


def start_record(spec: RecipeSpec, run_id: str, log_path: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "recipe": spec.name,
        "status": "running",
        "started_at": now_iso(),
        "finished_at": None,
        "config": thaw(spec.resolved),
        "recipe_file": spec.source_file,
        "leaderboard": [],
        "winner": None,
        "test_metrics": None,
        "bento": None,
        "steps": [],
        "log": log_path,
        "error": None,
        "pid": os.getpid(),  # with host: a "running" run whose driver is gone was interrupted
        "host": socket.gethostname(),
    }


def step_rows(plan: Plan, computed: set[str], cache: ArtifactCache) -> list[dict[str, Any]]:
    """One row per plan node: whether it was a cache hit, and what it cost in this run."""
    rows = []
    for key, node in plan.nodes.items():
        meta = cache.meta(key) if cache.has(key) else None
        ran = key in computed
        rows.append(
            {
                "name": node.step,
                "key": key,
                "cached": not ran,
                "wall_s": round(meta.wall_s, 4) if (meta and ran) else 0.0,
                "cpu_s": round(meta.cpu_s, 4) if (meta and ran) else 0.0,
                "peak_mem_mb": round(meta.peak_mem_mb, 1) if (meta and ran) else 0.0,
                "rows": meta.rows if meta else None,
            }
        )
    return rows


def cost(steps: list[dict[str, Any]], prices: CostSpec) -> dict[str, Any]:
    """Totals and an estimate from prices per CPU-hour and per GB-hour of peak memory."""
    cpu_s = sum(s["cpu_s"] for s in steps)
    wall_s = sum(s["wall_s"] for s in steps)
    gb_h = sum(s["peak_mem_mb"] / 1024.0 * s["wall_s"] / 3600.0 for s in steps)
    estimate = cpu_s / 3600.0 * prices.cpu_hour + gb_h * prices.gb_hour
    return {
        "cpu_s": round(cpu_s, 3),
        "wall_s": round(wall_s, 3),
        "gb_hours": round(gb_h, 6),
        "estimate": round(estimate, 6),
        "currency": prices.currency,
        "prices": {"cpu_hour": prices.cpu_hour, "gb_hour": prices.gb_hour},
    }


def _clean(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def results(
    plan: Plan, outputs: Mapping[str, Any], cache: ArtifactCache, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """Leaderboard, winner, test metrics, data counts and profile from the run's outputs."""
    selection = outputs["selection"]
    leaderboard = [t.as_record() for t in selection.leaderboard]
    for row in leaderboard:
        row["metrics"] = _clean(row["metrics"])
    test = outputs["test"]
    report = None
    if (
        cache.has(plan.outputs["test"])
        and "report.html" in cache.meta(plan.outputs["test"]).artifacts
    ):
        report = str(cache.artifact_path(plan.outputs["test"], "report.html"))
    return {
        "leaderboard": leaderboard,
        "winner": leaderboard[0],
        "select_metric": selection.metric,
        "test_metrics": _clean(dict(test.metrics)),
        "report": report,
        "data": data_summary(plan, outputs, cache, steps),
        "profile": _profile_dict(outputs.get("profile")),
    }


def data_summary(
    plan: Plan, outputs: Mapping[str, Any], cache: ArtifactCache, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    by_name = {s["name"]: s for s in steps}
    sources = {
        name.split(":", 1)[1]: {"rows": row["rows"]}
        for name, row in by_name.items()
        if name.startswith("load:")
    }
    key = plan.outputs["data"]
    meta = cache.meta(key)
    n_quarantined = meta.artifact_rows.get("quarantine.parquet", 0)
    q_path = None
    if n_quarantined:
        q_path = str(cache.artifact_path(key, "quarantine.parquet"))
    ingest = next((row for name, row in by_name.items() if name.startswith("ingest:")), None)
    if ingest is not None:
        return {"sources": sources, **_out_of_core_summary(cache, ingest["key"], meta.rows)}
    integrate = by_name.get("integrate", {})
    return {
        "steps": _integrate_steps(cache, integrate.get("key")),
        "sources": sources,
        "rows_in": integrate.get("rows"),
        "rows_out": meta.rows,
        "quarantined": n_quarantined,
        "quarantine_path": q_path,
    }


def _out_of_core_summary(
    cache: ArtifactCache, ingest_key: str, sample_rows: int | None
) -> dict[str, Any]:
    """Counts of an out-of-core ingest: rows in, good, quarantined (on disk), and sampled."""
    result = cache.load(ingest_key)  # a small record of counts and directories
    return {
        "steps": [],
        "rows_in": result.rows_in,
        "rows_out": result.rows_good,
        "quarantined": result.rows_quarantined,
        "quarantine_path": result.quarantine_dir if result.rows_quarantined else None,
        "out_of_core": {
            "partitions": result.partitions,
            "sample_rows": sample_rows,
            "good_dir": result.good_dir,
        },
    }


def _integrate_steps(cache: ArtifactCache, key: str | None) -> list[dict[str, Any]]:
    """Rows in and out of every integration step (join, union, as-of, dedupe, ...)."""
    import json

    if key is None or not cache.has(key) or "steps.json" not in cache.meta(key).artifacts:
        return []
    return list(json.loads(cache.artifact_path(key, "steps.json").read_text()))


def _profile_dict(profile: Any) -> dict[str, Any] | None:
    if profile is None:
        return None
    to_dict = getattr(profile, "to_dict", None)
    return to_dict() if callable(to_dict) else None
