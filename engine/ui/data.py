"""What the UI shows, read from the runs database, the registry, the cache and the plan.

The one module that knows where Sous keeps things: pages and templates receive the frozen
views of ``engine.ui.views`` (re-exported here) and never touch a store. Everything is
read-only except :func:`move_alias`. Run records are the public JSON of ``sous runs show ID
--json`` (see records.py); fields a record may lack (older runs, a failed run) read as empty.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.run.record import halving_resource, where_stopped
from engine.ui.views import (
    SORT_KEYS,
    AliasMove,
    Bar,
    Cell,
    Comparison,
    Cost,
    Curve,
    EvaluationView,
    Histogram,
    LeaderRow,
    ModelView,
    Outcome,
    Record,
    RunQuery,
    RunsPage,
    RunSummary,
    RunView,
    SweepView,
    Trial,
    _cost,
    _float,
    _greater_is_better,
    _metrics,
    _outcome,
    _varied,
    compare,
    failed_steps,
    flatten,
    histograms,
    query_runs,
    summarise,
    sweep_of_group,
)

# the views (re-exported: pages and tests name them through this module) and the readers
__all__ = [
    "SORT_KEYS",
    "AliasMove",
    "Bar",
    "Cell",
    "Comparison",
    "Cost",
    "Curve",
    "EvaluationView",
    "Histogram",
    "LeaderRow",
    "ModelView",
    "Outcome",
    "Record",
    "RunIndex",
    "RunQuery",
    "RunSummary",
    "RunView",
    "RunsPage",
    "SweepView",
    "Trial",
    "compare",
    "evaluation",
    "failed_steps",
    "flatten",
    "histograms",
    "latest_by_recipe",
    "log_tail",
    "model_names",
    "model_view",
    "move_alias",
    "plan_rows",
    "quarantine_reasons",
    "query_runs",
    "recipe_files",
    "run_view",
    "summarise",
    "sweep_of_group",
    "sweep_of_run",
    "timeline",
]


class RunIndex:
    """Summaries of every run, parsed once: a finished run's record never changes, so a page
    load re-reads only the index columns and the records of new or still-running runs.
    That is what keeps the Runs page fast with thousands of runs (benchmarks/bench_ui.py)."""

    def __init__(self, url: str):
        from engine.store.runs import RunsDB

        self.db = RunsDB(url)
        self._lock = threading.Lock()  # guards _done
        self._parsing = threading.Lock()  # one parse at a time: a second caller waits, then
        self._done: dict[str, RunSummary] = {}  # finds the records in memory
        self.warming = False  # a background parse of every record was scheduled

    ready = False  # every run parsed at least once (see :meth:`recent`)

    def summaries(self) -> list[RunSummary]:
        """Every run, newest first."""
        from sqlalchemy import select

        from engine.store.runs import runs_table as t

        with self.db.engine.connect() as conn:
            ids = conn.execute(select(t.c.run_id).order_by(t.c.started_at.desc())).scalars().all()
        known = self._parse(ids)
        self.ready = True
        return [known[i] for i in ids if i in known]

    def recent(self, limit: int) -> tuple[list[RunSummary], int]:
        """The ``limit`` newest runs and how many there are: the default Runs page, served
        before the whole index is parsed (the server parses it in the background)."""
        from sqlalchemy import func, select

        from engine.store.runs import runs_table as t

        with self.db.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            query = select(t.c.run_id).order_by(t.c.started_at.desc()).limit(limit)
            ids = conn.execute(query).scalars().all()
        known = self._parse(ids)
        return [known[i] for i in ids if i in known], total

    def _parse(self, ids: Sequence[str]) -> dict[str, RunSummary]:
        """Summaries of ``ids``: finished ones from memory, the others read and parsed."""
        with self._parsing:
            return self._parse_now(ids)

    def _parse_now(self, ids: Sequence[str]) -> dict[str, RunSummary]:
        from sqlalchemy import select

        from engine.store.runs import _live_status, parse_record
        from engine.store.runs import runs_table as t

        with self._lock:
            out = {i: self._done[i] for i in ids if i in self._done}
        missing = [i for i in ids if i not in out]
        fresh: list[RunSummary] = []
        with self.db.engine.connect() as conn:
            for chunk in _chunks(missing, 500):
                query = select(t.c.record, t.c.group_id).where(t.c.run_id.in_(chunk))
                for rec_text, group in conn.execute(query):
                    fresh.append(summarise(_live_status(parse_record(rec_text)), group))
        with self._lock:
            for s in fresh:
                if s.status != "running":  # a running run's record still changes
                    self._done[s.run_id] = s
                out[s.run_id] = s
        return out


def _chunks(items: Sequence[str], n: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def run_view(record: Record, group_id: str | None, cache_root: str | Path) -> RunView:
    import yaml

    s = summarise(record, group_id)
    board = record.get("leaderboard") or []
    names = sorted({m for e in board for m in (e.get("metrics") or {})})
    if s.metric in names:  # the selected metric first
        names.remove(s.metric)
        names.insert(0, s.metric)
    rows = []
    for i, e in enumerate(board):
        mean, std = _metrics(e.get("metrics")), _metrics(e.get("metrics_std"))
        rows.append(
            LeaderRow(
                rank=i + 1,
                model=str(e.get("model")),
                params=", ".join(f"{k}={v}" for k, v in (e.get("params") or {}).items()),
                cells=tuple(Cell(mean.get(m), std.get(m)) for m in names),
                winner=i == 0 and s.status == "succeeded",
            )
        )
    data = record.get("data") or {}
    steps = record.get("steps") or []
    evaluated = any(st.get("name") == "test" for st in steps)
    return RunView(
        summary=s,
        config_yaml=yaml.safe_dump(record.get("config") or {}, sort_keys=False),
        metric_names=tuple(names),
        leaderboard=tuple(rows),
        params=dict((record.get("winner") or {}).get("params") or {}),
        gate=_outcome(record.get("gate")),
        smoke=_outcome(record.get("smoke")),
        promoted=record.get("promoted"),
        model_version=record.get("model_version"),
        histograms=histograms(record.get("profile")),
        profile_rows=(record.get("profile") or {}).get("rows"),
        quarantined=int(data.get("quarantined") or 0),
        quarantine_reasons=quarantine_reasons(data.get("quarantine_path")),
        rows_in=data.get("rows_in"),
        rows_out=data.get("rows_out"),
        bars=timeline(steps, cache_root),
        steps_total=len(steps),
        steps_cached=sum(1 for st in steps if st.get("cached")),
        cost=_cost(record.get("cost")),
        pruned=tuple(f"{p.get('model')} t{p.get('trial')}" for p in record.get("pruned") or []),
        has_evaluation=evaluated,
        has_sweep=len(board) > 1 or group_id is not None,
        log_tail=log_tail(record.get("log")) if s.status == "running" else (),
    )


def quarantine_reasons(path: str | None, sample: int = 5) -> tuple[tuple[str, int], ...]:
    """The most frequent reasons rows were quarantined: only the reasons column is read,
    never the rows' values."""
    if not path or not Path(path).is_file():
        return ()
    import pyarrow.parquet as pq

    from engine.errors import UserError
    from engine.security.at_rest import read_sealed

    try:  # sealed when encryption at rest is on
        table = pq.read_table(io.BytesIO(read_sealed(path)), columns=["_failed_checks"])
        column = table.column(0).to_pylist()
    except (KeyError, ValueError, OSError, UserError):
        return ()
    counts: dict[str, int] = {}
    for reason in column:
        text = ", ".join(map(str, reason)) if isinstance(reason, list) else str(reason)
        counts[text] = counts.get(text, 0) + 1
    return tuple(sorted(counts.items(), key=lambda kv: -kv[1])[:sample])


def timeline(steps: Sequence[Mapping[str, Any]], cache_root: str | Path) -> tuple[Bar, ...]:
    """Place each step in time. A record whose step rows name their ``worker`` and
    ``started_s`` (seconds from the run's start) gets one lane per worker, bars at their
    start; an older record gets concurrency lanes (see :func:`concurrency_timeline`)."""
    ran = [st for st in steps if not st.get("cached")]
    if any(_placed(st) for st in ran):
        return worker_timeline(steps)
    return concurrency_timeline(steps, cache_root)


UNPLACED = "(not recorded)"  # the lane of a computed step whose worker or start is missing


def _placed(step: Mapping[str, Any]) -> bool:
    return bool(step.get("worker")) and _float(step.get("started_s")) is not None


def _lane_order(worker: str) -> tuple[int, str]:
    """Dask workers first (by address), then the driver's own process, then steps the
    record could not place."""
    return (2 if worker == UNPLACED else 1 if worker in ("sync", "driver") else 0, worker)


def worker_timeline(steps: Sequence[Mapping[str, Any]]) -> tuple[Bar, ...]:
    """One lane per worker named by the record, each bar at its recorded start; a computed
    step the record does not place (no worker or start) goes on a lane of its own, at 0."""

    def where(st: Mapping[str, Any]) -> str | None:
        return None if st.get("cached") else str(st["worker"]) if _placed(st) else UNPLACED

    workers = sorted({w for st in steps if (w := where(st)) is not None}, key=_lane_order)
    lane = {w: i for i, w in enumerate(workers)}
    bars = []
    for st in sorted(steps, key=lambda st: _float(st.get("started_s")) or 0.0):
        cached = bool(st.get("cached"))
        worker = where(st)
        bars.append(
            Bar(
                name=str(st.get("name")),
                key=str(st.get("key")),
                lane=-1 if worker is None else lane[worker],
                start_s=0.0 if cached else max(_float(st.get("started_s")) or 0.0, 0.0),
                wall_s=float(st.get("wall_s") or 0.0),
                cpu_s=float(st.get("cpu_s") or 0.0),
                peak_mem_mb=float(st.get("peak_mem_mb") or 0.0),
                cached=cached,
                worker=worker,
            )
        )
    return tuple(bars)


def concurrency_timeline(
    steps: Sequence[Mapping[str, Any]], cache_root: str | Path
) -> tuple[Bar, ...]:
    """For records that name no worker: a step's end is its cache entry's commit
    (:meth:`~engine.store.cache.ArtifactCache.committed_at`), its start that minus its wall
    time; steps that overlap go on separate lanes, one lane per concurrently busy slot."""
    from engine.store.cache import ArtifactCache

    cache = ArtifactCache(cache_root)
    placed: list[tuple[float, Mapping[str, Any]]] = []
    for st in steps:
        key = str(st.get("key", ""))
        start = _float(st.get("started_at_s"))  # a future record field; else derived
        if start is None:
            end = cache.committed_at(key) if key else None
            if end is None:
                continue  # no entry (collected since)
            start = end - float(st.get("wall_s") or 0.0)
        placed.append((start, st))
    if not placed:
        return ()
    computed = [t for t, st in placed if not st.get("cached")]
    origin = min(computed) if computed else min(t for t, _ in placed)
    lanes: list[float] = []  # end time of the last bar on each lane
    bars = []
    for start, st in sorted(placed, key=lambda p: p[0]):
        wall = float(st.get("wall_s") or 0.0)
        t0 = max(start - origin, 0.0) if not st.get("cached") else 0.0
        lane = next((i for i, end in enumerate(lanes) if end <= t0 + 1e-3), len(lanes))
        if st.get("cached"):
            lane = -1  # cached steps cost nothing this run: listed apart
        elif lane == len(lanes):
            lanes.append(t0 + wall)
        else:
            lanes[lane] = t0 + wall
        bars.append(
            Bar(
                name=str(st.get("name")),
                key=str(st.get("key")),
                lane=lane,
                start_s=t0,
                wall_s=wall,
                cpu_s=float(st.get("cpu_s") or 0.0),
                peak_mem_mb=float(st.get("peak_mem_mb") or 0.0),
                cached=bool(st.get("cached")),
            )
        )
    return tuple(bars)


def log_tail(path: str | None, n: int = 12) -> tuple[str, ...]:
    """The last lines of a running run's progress log (step names and counts only)."""
    if not path:
        return ()
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 8192, 0))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ()
    return tuple(lines[-n:])


def _thin(xs: Any, ys: Any, n: int = 400) -> tuple[tuple[float, ...], tuple[float, ...]]:
    import numpy as np

    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) > n:
        keep = np.unique(np.linspace(0, len(xs) - 1, n).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return tuple(round(float(x), 6) for x in xs), tuple(round(float(y), 6) for y in ys)


def evaluation(record: Record, cache_root: str | Path) -> EvaluationView | None:
    """The test evaluation's plots as data (curves, confusion matrix, importance), computed
    from the evaluation stored in the cache: the page draws them, no HTML is embedded."""
    key = next((st["key"] for st in record.get("steps") or [] if st.get("name") == "test"), None)
    if key is None:
        return None
    from engine.store.cache import ArtifactCache

    cache = ArtifactCache(cache_root)
    if not cache.has(key):
        return None
    ev = cache.get(key)
    import numpy as np

    y_true, y_pred = np.asarray(ev.y_true), np.asarray(ev.y_pred)
    imp = tuple(
        sorted(
            ((str(k), float(v)) for k, v in (ev.feature_importance or {}).items()),
            key=lambda kv: -abs(kv[1]),
        )[:20]
    )
    if ev.task != "classification":
        y, p = y_true.astype(float), y_pred.astype(float)
        by_y, by_p = np.argsort(y, kind="stable"), np.argsort(p, kind="stable")  # x ascending
        scatters = (
            Curve(
                "Predicted vs actual",
                "actual",
                "predicted",
                (("rows", *_thin(y[by_y], p[by_y])),),
                True,
            ),
            Curve(
                "Residuals",
                "predicted",
                "actual - predicted",
                (("rows", *_thin(p[by_p], (y - p)[by_p])),),
                True,
            ),
        )
        return EvaluationView(ev.task, len(y), (), (), scatters, imp)
    from engine import curves

    drawn = curves.of(ev)
    return EvaluationView(
        task=ev.task,
        rows=len(y_true),
        labels=tuple(str(x) for x in drawn.labels),
        confusion=tuple(tuple(int(c) for c in row) for row in drawn.confusion),
        curves=_class_curves(drawn.classes) if ev.y_score is not None else (),
        importance=imp,
    )


def _class_curves(per_class: Any) -> tuple[Curve, ...]:
    """The evaluation's per-class curves, thinned for the page."""
    from engine.curves import CHARTS

    return tuple(
        Curve(
            title, x_label, y_label, tuple((c.label, *_thin(*getattr(c, field))) for c in per_class)
        )
        for title, x_label, y_label, field in CHARTS
    )


def _trial_number(step_name: str) -> int | None:
    """``trial:MODEL:tN`` -> N. The record names trial steps this way; a typed record
    carrying the number replaces this."""
    tail = step_name.rsplit(":", 1)[-1]
    return int(tail[1:]) if tail[:1] == "t" and tail[1:].isdigit() else None


def sweep_of_run(record: Record, cache_root: str | Path) -> SweepView:
    """Every trial of one run's sweep, in the order they finished, read from the cache
    (a trial node's output holds its params and metrics); the leaderboard when the cache
    is elsewhere."""
    from engine.store.cache import ArtifactCache

    metric = str(record.get("select_metric") or "")
    cache = ArtifactCache(cache_root)
    found: list[tuple[float, Trial]] = []
    for st in record.get("steps") or []:
        name = str(st.get("name", ""))
        number = _trial_number(name) if name.startswith("trial:") else None
        if number is None or not cache.has(st["key"]):
            continue
        value = cache.get(st["key"])
        when = cache.committed_at(st["key"]) or 0.0
        metrics = _metrics(getattr(value, "metrics", {}))
        found.append(
            (
                when,
                Trial(
                    number=number,
                    label=f"{value.model} t{number}",
                    model=str(value.model),
                    params=dict(getattr(value, "params", {})),
                    value=metrics.get(metric),
                ),
            )
        )
    if found:
        first = min(when for when, _ in found)
        trials = [
            replace(t, finished_s=round(when - first, 3))
            for when, t in sorted(found, key=lambda p: (p[0], p[1].number))
        ]
    else:
        trials = [
            Trial(
                i,
                f"{e.get('model')} #{i + 1}",
                str(e.get("model")),
                dict(e.get("params") or {}),
                _metrics(e.get("metrics")).get(metric),
            )
            for i, e in enumerate(record.get("leaderboard") or [])
        ]
    board = [(e.get("model"), e.get("params") or {}) for e in record.get("leaderboard") or []]
    trials = [
        replace(t, rank=board.index((t.model, t.params))) if (t.model, t.params) in board else t
        for t in trials
    ]
    resource = halving_resource(record)
    for p in record.get("pruned") or []:  # the params they ran with: their line on the chart
        n, params = int(p.get("trial", -1)), dict(p.get("params") or {})
        where, score = where_stopped(p, resource), p.get("score")
        label, model = f"{p.get('model')} t{n}", str(p.get("model"))
        trials.append(Trial(n, label, model, params, None, True, where, score))
    names = _varied(trials)
    return SweepView("sweep", metric, _greater_is_better(metric), tuple(names), tuple(trials))


def plan_rows(recipe: str, overrides: Sequence[str], failed: Iterable[str] = ()) -> list[Any]:
    """The recipe's plan as graph rows (see graph.py): cached, to run, or failed."""
    from engine import api
    from engine.ui.graph import PlanRow

    with _HYDRA_LOCK:  # Hydra's state is process-wide: one compose at a time
        spec = api.validate(recipe, list(overrides))
    the_plan, compiled = api.plan(spec)
    bad = set(failed)
    rows = []
    for key, node in the_plan.nodes.items():
        status = "failed" if node.step in bad else "cached" if key in compiled.cached else "to run"
        rows.append(
            PlanRow(
                key=key,
                step=node.step,
                status=status,
                inputs=tuple(node.deps),
                params=tuple((str(k), _short(v)) for k, v in node.params.items()),
            )
        )
    return rows


_HYDRA_LOCK = threading.Lock()


def latest_by_recipe(db: Any) -> dict[str, Record]:
    """The latest run record of each recipe (one query, one record parsed per recipe)."""
    from sqlalchemy import func, select

    from engine.store.runs import parse_record
    from engine.store.runs import runs_table as t

    newest = select(t.c.recipe, func.max(t.c.started_at).label("at")).group_by(t.c.recipe)
    sub = newest.subquery()
    query = select(t.c.recipe, t.c.record).join(
        sub, (t.c.recipe == sub.c.recipe) & (t.c.started_at == sub.c.at)
    )
    with db.engine.connect() as conn:
        return {recipe: parse_record(text) for recipe, text in conn.execute(query)}


def recipe_files(db: Any, scan: int = 200) -> dict[str, str]:
    """Recipe name -> the recipe file of its latest run that records one, from the ``scan``
    latest runs."""
    from sqlalchemy import select

    from engine.store.runs import parse_record
    from engine.store.runs import runs_table as t

    query = select(t.c.recipe, t.c.record).order_by(t.c.started_at.desc()).limit(scan)
    out: dict[str, str] = {}
    with db.engine.connect() as conn:
        for recipe, text in conn.execute(query):
            if recipe not in out and (path := parse_record(text).get("recipe_file")):
                out[recipe] = str(path)
    return out


def _short(value: Any, width: int = 160) -> str:
    key = getattr(value, "key", None)
    text = f"<output of {key}>" if isinstance(key, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def model_names() -> list[str]:
    from engine.store import registry

    return registry.names()


def model_view(name: str) -> ModelView:
    from engine.serving import list_versions
    from engine.store import registry

    versions = list(reversed(list_versions(name)))
    events = registry.history(name)
    moves = tuple(
        AliasMove(e.alias, e.action, e.version, e.previous, e.at, e.actor, e.reason)
        for e in reversed(events)
    )
    return ModelView(
        name=name,
        versions=tuple(versions),
        metric_names=tuple(sorted({m for v in versions for m in v.metrics})),
        history=moves,
    )


def move_alias(name: str, action: str, version: str, alias: str, reason: str) -> str:
    """Promote (``version`` to ``alias``) or roll back production; says what happened. The
    registry records the actor (the user running ``sous ui``) and the reason given."""
    from engine.errors import UserError
    from engine.store import registry

    mover = registry.Mover(reason=f"{reason or 'no reason given'} (via sous ui)")
    if action == "promote":
        previous = registry.promote(name, version, alias, mover=mover)
        return f"{name}: {alias} -> {version} (was {previous or 'unset'})"
    if action == "rollback":
        return f"{name}: production rolled back to {registry.rollback(name, mover=mover)}"
    raise UserError(f"unknown action {action!r}", hint="use promote or rollback")
