"""A check as ``sous monitor`` runs it: settings from the version's run, the report, the
HTML file, alert delivery (deduped), history, and ``on_alert: retrain``."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from engine.monitor.alerts import EXIT_ALERT, append_history, deliver
from engine.monitor.locate import Target, locate
from engine.specs import MonitorSpec


@dataclass(frozen=True)
class CheckOutcome:
    report: dict[str, Any]  # the JSON report
    exit_code: int  # 0, or EXIT_ALERT when an alert condition holds


def settings_for(target: Target) -> tuple[MonitorSpec, str | None]:
    """The ``monitor:`` section of the run that produced the version (defaults when that
    run is not in this runs database); second item: a note for the report, if any."""
    from engine.errors import NotFoundError
    from engine.home import db_url
    from engine.recipe.monitor import from_config
    from engine.store.runs import RunsDB

    run_id = target.labels.get("run_id")
    if not run_id:
        return MonitorSpec(), "the version names no run: default monitor settings"
    try:
        record = RunsDB(db_url()).get(run_id)
    except NotFoundError:
        return MonitorSpec(), f"run {run_id} is not in the runs database: default settings"
    spec = from_config(record.get("config"), source=record.get("recipe_file"))
    return _relative_to(spec, record.get("recipe_file")), None


def _relative_to(spec: MonitorSpec, recipe_file: str | None) -> MonitorSpec:
    """A labels source's relative path is read from the recipe's directory."""
    import dataclasses
    from pathlib import Path

    from engine.specs import frozen_map

    path = spec.labels.options.get("path") if spec.labels is not None else None
    if spec.labels is None or not isinstance(path, str) or "://" in path or not recipe_file:
        return spec
    absolute = str((Path(recipe_file).resolve().parent / path).resolve())
    options = frozen_map({**spec.labels.options, "path": absolute})
    return dataclasses.replace(spec, labels=dataclasses.replace(spec.labels, options=options))


def run_check(
    name: str,
    *,
    version: str | None = None,
    since: float | None = None,
    until: float | None = None,
    slices: bool = False,
    compare: bool = False,
    html: str | None = None,
    deliver_alerts: bool = True,
    spec: MonitorSpec | None = None,
) -> CheckOutcome:
    from engine.monitor.monitor import check

    target = locate(name, version)
    note = None
    if spec is None:
        spec, note = settings_for(target)
    now = time.time()
    report = check(
        name, spec, version=target.version, since=since, until=until, slices=slices, now=now
    )
    out = report.to_json()
    if note:
        out["notes"].append(note)
    if compare:
        from engine.monitor.compare import compare_variants

        out["compare"] = compare_variants(target, report.since, report.until)
    alerts = report.alerts
    if deliver_alerts:
        delivery = deliver(name, alerts, out, spec.alerts, window_s=spec.window_s, now=now)
        out["delivery"] = {
            "new": list(delivery.new),
            "repeated": list(delivery.repeated),
            "webhook_status": delivery.webhook_status,
            "webhook_error": delivery.webhook_error,
        }
        append_history(name, _history_entry(out, now))
        if alerts and spec.on_alert == "retrain" and delivery.new:
            out["retrain"] = _retrain(name, target.version)
            if out["retrain"].get("run_id"):
                out["retrain"]["drift_report"] = _drift_report(out, target)
    if html:
        from engine.monitor.html import write_html

        write_html(html, out, target)
    return CheckOutcome(out, EXIT_ALERT if alerts else 0)


def _history_entry(report: dict[str, Any], now: float) -> dict[str, Any]:
    perf = report.get("performance") or {}
    return {
        "at": now,
        "version": report["version"],
        "n": report["n"],
        "drifted": report["drifted"],
        "scores": {k: v["score"] for k, v in report["features"].items()},
        "live": perf.get("live", {}),
        "alerts": [a["message"] for a in report["alerts"]],
    }


def _drift_report(report: dict[str, Any], target: Target) -> str:
    """The drift report that started a retrain, kept with that run (``drift_report`` in its
    record, beside the evaluation ``report``)."""
    from engine.home import db_url, runs_dir
    from engine.monitor.html import write_html
    from engine.store.runs import RunsDB

    run_id = report["retrain"]["run_id"]
    path = write_html(runs_dir() / run_id / "drift.html", report, target)
    db = RunsDB(db_url())
    record = db.get(run_id)
    record["drift_report"] = str(path)
    db.finish(record)
    return str(path)


def _retrain(name: str, version: str) -> dict[str, Any]:
    """``monitor.on_alert: retrain``: rerun the version's recipe now (once per window: only
    alerts new in this window start one)."""
    from engine.errors import SousError
    from engine.monitor.retrain import retrain

    try:
        record = retrain(name, version=version, stream=sys.stderr)
    except SousError as exc:
        return {"status": "failed", "error": str(exc)}
    return {
        "run_id": record["run_id"],
        "status": record.get("status"),
        "model_version": record.get("model_version"),
        "promoted": record.get("promoted"),
    }
