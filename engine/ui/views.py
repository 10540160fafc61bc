"""The views the UI's pages render: frozen records built from run records by pure
functions (filters, sort, compare, sweeps). No store is read here: ``engine.ui.data`` reads
the runs database, registry, cache and plan, and hands these views to the pages."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Record = Mapping[str, Any]


@dataclass(frozen=True)
class RunSummary:
    """One row of the Runs table."""

    run_id: str
    recipe: str
    status: str
    started_at: str
    finished_at: str | None
    duration_s: float | None
    model: str | None
    metric: str | None
    score: float | None
    metrics: Mapping[str, float]
    test_metrics: Mapping[str, float]
    bento: str | None
    cost: float | None
    currency: str
    n_trials: int
    group_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunQuery:
    """Filters, search and sort of the Runs page (all optional)."""

    recipe: str = ""
    status: str = ""
    model: str = ""
    date_from: str = ""  # ISO date or datetime, inclusive
    date_to: str = ""  # ISO date (the whole day) or datetime, inclusive
    metric: str = ""  # threshold on the winner's metric ...
    metric_min: float | None = None
    metric_max: float | None = None
    search: str = ""
    sort: str = "started_at"
    desc: bool = True
    limit: int = 100


SORT_KEYS = ("started_at", "recipe", "status", "model", "score", "duration_s", "cost", "run_id")


@dataclass(frozen=True)
class RunsPage:
    rows: tuple[RunSummary, ...]
    total: int  # runs in the database
    matched: int  # runs matching the filters (rows holds at most query.limit of them)
    recipes: tuple[str, ...]
    statuses: tuple[str, ...]
    models: tuple[str, ...]
    metrics: tuple[str, ...]


def _float(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return None if math.isnan(float(v)) else float(v)


def _metrics(m: Any) -> dict[str, float]:
    if not isinstance(m, Mapping):
        return {}
    return {str(k): f for k, v in m.items() if (f := _float(v)) is not None}


def _duration(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (ValueError, TypeError):  # malformed, or one with a zone and one without
        return None


def summarise(record: Record, group_id: str | None = None) -> RunSummary:
    """The Runs-table row of a run record."""
    winner = record.get("winner") or {}
    metric = record.get("select_metric")
    metrics = _metrics(winner.get("metrics"))
    cost = record.get("cost") or {}
    return RunSummary(
        run_id=str(record["run_id"]),
        recipe=str(record.get("recipe", "")),
        status=str(record.get("status", "")),
        started_at=str(record.get("started_at", "")),
        finished_at=record.get("finished_at"),
        duration_s=_duration(record.get("started_at"), record.get("finished_at")),
        model=winner.get("model"),
        metric=metric,
        score=metrics.get(metric) if metric else None,
        metrics=metrics,
        test_metrics=_metrics(record.get("test_metrics")),
        bento=record.get("bento"),
        cost=_float(cost.get("estimate")),
        currency=str(cost.get("currency", "")),
        n_trials=len(record.get("leaderboard") or []),
        group_id=group_id,
        error=record.get("error"),
    )


def _matches(s: RunSummary, q: RunQuery) -> bool:
    if q.recipe and s.recipe != q.recipe:
        return False
    if q.status and s.status != q.status:
        return False
    if q.model and s.model != q.model:
        return False
    day = s.started_at[:10]
    if q.date_from and (s.started_at if "T" in q.date_from else day) < q.date_from:
        return False
    if q.date_to and (s.started_at if "T" in q.date_to else day) > q.date_to:
        return False
    if q.metric and (q.metric_min is not None or q.metric_max is not None):
        value = s.metrics.get(q.metric)
        if value is None:
            return False
        if q.metric_min is not None and value < q.metric_min:
            return False
        if q.metric_max is not None and value > q.metric_max:
            return False
    if q.search:
        hay = " ".join(
            str(x) for x in (s.run_id, s.recipe, s.status, s.model, s.bento, s.error) if x
        )
        if q.search.lower() not in hay.lower():
            return False
    return True


def _sort_key(s: RunSummary, key: str) -> tuple[int, Any]:
    value = getattr(s, key if key in SORT_KEYS else "started_at")
    return (0, value) if value is not None else (1, 0)


def query_runs(summaries: Sequence[RunSummary], q: RunQuery) -> RunsPage:
    """Filter, search and sort run summaries; the option lists cover every run."""
    matched = [s for s in summaries if _matches(s, q)]
    present = [s for s in matched if _sort_key(s, q.sort)[0] == 0]
    absent = [s for s in matched if _sort_key(s, q.sort)[0] == 1]  # missing values sort last
    present.sort(key=lambda s: _sort_key(s, q.sort)[1], reverse=q.desc)
    rows = (present + absent)[: max(q.limit, 1)]
    return RunsPage(
        rows=tuple(rows),
        total=len(summaries),
        matched=len(matched),
        recipes=tuple(sorted({s.recipe for s in summaries})),
        statuses=tuple(sorted({s.status for s in summaries})),
        models=tuple(sorted({s.model for s in summaries if s.model})),
        metrics=tuple(sorted({m for s in summaries for m in s.metrics})),
    )


@dataclass(frozen=True)
class Comparison:
    runs: tuple[RunSummary, ...]
    config_diff: tuple[tuple[str, tuple[str, ...]], ...]  # dotted key, value per run
    metrics: tuple[tuple[str, tuple[float | None, ...]], ...]  # winner metric, value per run
    test_metrics: tuple[tuple[str, tuple[float | None, ...]], ...]
    boards: tuple[tuple[str, tuple[float, ...]], ...]  # run id, select-metric per rank


_MISSING = "(absent)"


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Dotted key -> compact JSON text of each leaf (lists are leaves)."""
    if isinstance(value, Mapping) and value:
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: json.dumps(value, sort_keys=True, default=str)}


def compare(records: Sequence[Record]) -> Comparison:
    """Only the config keys whose values differ, and metrics side by side."""
    flat = [flatten(r.get("config") or {}) for r in records]
    keys = sorted({k for f in flat for k in f})
    diff = tuple(
        (k, vals) for k in keys if len(set(vals := tuple(f.get(k, _MISSING) for f in flat))) > 1
    )
    summaries = [summarise(r) for r in records]

    def side_by_side(per_run: list[Mapping[str, float]]) -> tuple[Any, ...]:
        names = sorted({m for p in per_run for m in p})
        return tuple((m, tuple(p.get(m) for p in per_run)) for m in names)

    boards = []
    for r, s in zip(records, summaries, strict=True):
        values = [
            v
            for e in r.get("leaderboard") or []
            if (v := _metrics(e.get("metrics")).get(s.metric or "")) is not None
        ]
        boards.append((s.run_id, tuple(values)))
    return Comparison(
        runs=tuple(summaries),
        config_diff=diff,
        metrics=side_by_side([s.metrics for s in summaries]),
        test_metrics=side_by_side([s.test_metrics for s in summaries]),
        boards=tuple(boards),
    )


@dataclass(frozen=True)
class Cell:
    mean: float | None
    std: float | None


@dataclass(frozen=True)
class LeaderRow:
    rank: int
    model: str
    params: str
    cells: tuple[Cell, ...]  # one per RunView.metric_names
    winner: bool


@dataclass(frozen=True)
class Histogram:
    column: str
    dtype: str
    nulls: int
    edges: tuple[float, ...]  # numeric: len(counts) + 1 edges; categorical: empty
    labels: tuple[str, ...]  # categorical: top values
    counts: tuple[int, ...]
    is_target: bool = False


@dataclass(frozen=True)
class Bar:
    """A step on the timeline: seconds from the run's start, a lane (one per Dask worker
    when the record names them; else concurrent steps get different lanes), and what it
    cost."""

    name: str
    key: str
    lane: int
    start_s: float
    wall_s: float
    cpu_s: float
    peak_mem_mb: float
    cached: bool
    worker: str | None = None  # the lane's worker address ("sync", "driver"); None: unknown


@dataclass(frozen=True)
class Outcome:
    """A gate or smoke-test result: passed, and what failed or was measured."""

    passed: bool
    failures: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class Cost:
    cpu_s: float
    wall_s: float
    estimate: float
    currency: str


def _outcome(d: Any) -> Outcome | None:
    if not isinstance(d, Mapping):
        return None
    return Outcome(
        passed=bool(d.get("passed")),
        failures=tuple(str(f) for f in d.get("failures") or ()),
        message=str(d.get("message") or ""),
    )


def _cost(d: Any) -> Cost | None:
    if not isinstance(d, Mapping) or d.get("estimate") is None:
        return None
    return Cost(
        cpu_s=float(d.get("cpu_s") or 0.0),
        wall_s=float(d.get("wall_s") or 0.0),
        estimate=float(d["estimate"]),
        currency=str(d.get("currency", "")),
    )


@dataclass(frozen=True)
class RunView:
    summary: RunSummary
    config_yaml: str
    metric_names: tuple[str, ...]
    leaderboard: tuple[LeaderRow, ...]
    params: Mapping[str, Any]
    gate: Outcome | None
    smoke: Outcome | None
    promoted: str | None
    model_version: str | None
    histograms: tuple[Histogram, ...]
    profile_rows: int | None
    quarantined: int
    quarantine_reasons: tuple[tuple[str, int], ...]
    rows_in: int | None
    rows_out: int | None
    bars: tuple[Bar, ...]
    steps_total: int
    steps_cached: int
    cost: Cost | None
    pruned: tuple[str, ...]
    has_evaluation: bool
    has_sweep: bool
    log_tail: tuple[str, ...] = field(default_factory=tuple)


def histograms(profile: Any) -> tuple[Histogram, ...]:
    """Per-column histograms from the data profile (bin counts, or top categories)."""
    if not isinstance(profile, Mapping):
        return ()
    out = []
    for name, c in (profile.get("columns") or {}).items():
        num, cat = c.get("numeric") or {}, c.get("categorical") or {}
        if num.get("bin_counts"):
            edges = tuple(float(x) for x in num.get("bin_edges") or ())
            counts = tuple(int(x) for x in num["bin_counts"])
            labels: tuple[str, ...] = ()
        elif cat.get("top"):
            edges = ()
            labels = tuple(str(v) for v, _ in cat["top"])
            counts = tuple(int(n) for _, n in cat["top"])
        else:
            continue
        out.append(
            Histogram(
                column=str(name),
                dtype=str(c.get("dtype")),
                nulls=int(c.get("nulls") or 0),
                edges=edges,
                labels=labels,
                counts=counts,
                is_target=bool(c.get("is_target")),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Curve:
    title: str
    x_label: str
    y_label: str
    series: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...]
    scatter: bool = False


@dataclass(frozen=True)
class EvaluationView:
    task: str
    rows: int
    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    curves: tuple[Curve, ...]
    importance: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Trial:
    number: int
    label: str
    model: str
    params: Mapping[str, Any]
    value: float | None  # the selection metric (mean over folds); None when pruned
    pruned: bool = False
    stopped: str | None = None  # a pruned trial: where it stopped (record.where_stopped)
    stopped_score: float | None = None  # ... and the last score the search saw there
    run_id: str | None = None
    finished_s: float | None = None  # seconds after the first trial finished
    rank: int | None = None  # its place in the run's leaderboard (ties broken as selected)


@dataclass(frozen=True)
class SweepView:
    kind: str  # "sweep" (trials of one run) or "multirun" (runs of one group)
    metric: str
    greater_is_better: bool
    param_names: tuple[str, ...]
    trials: tuple[Trial, ...]  # in the order they finished

    def best_so_far(self) -> tuple[tuple[int, float], ...]:
        best: float | None = None
        out = []
        for t in self.trials:
            if t.value is None:
                continue
            better = best is None or (t.value > best if self.greater_is_better else t.value < best)
            best = t.value if better else best
            out.append((t.number, float(best)))  # type: ignore[arg-type]
        return tuple(out)

    def best(self) -> Trial | None:
        """The selected trial: first in the leaderboard (ties on the metric are broken by
        ``select.tiebreak``), else the best value."""
        done = [t for t in self.trials if t.value is not None]
        if not done:
            return None
        ranked = [t for t in done if t.rank is not None]
        if ranked:
            return min(ranked, key=lambda t: t.rank or 0)
        pick = max if self.greater_is_better else min
        return pick(done, key=lambda t: t.value or 0.0)


def _greater_is_better(metric: str) -> bool:
    from engine.errors import SousError
    from engine.metrics import greater_is_better

    try:
        return bool(greater_is_better(metric))
    except (SousError, KeyError):
        return True


def _varied(trials: Sequence[Trial]) -> tuple[str, ...]:
    """The params that take more than one value among one model's trials."""
    values: dict[tuple[str, str], set[str]] = {}
    for t in trials:
        for k, v in t.params.items():
            values.setdefault((t.model, k), set()).add(json.dumps(v, default=str))
    return tuple(sorted({k for (_, k), seen in values.items() if len(seen) > 1}))


def sweep_of_group(records: Sequence[Record]) -> SweepView:
    """A multirun: each run is a trial; its params are the config keys that differ."""
    records = sorted(records, key=lambda r: str(r.get("started_at", "")))
    metric = next((str(r["select_metric"]) for r in records if r.get("select_metric")), "")
    flat = [flatten(r.get("config") or {}) for r in records]
    keys = sorted({k for f in flat for k in f})
    differing = [k for k in keys if len({f.get(k, _MISSING) for f in flat}) > 1]
    trials = []
    ends = [_duration(records[0].get("started_at"), r.get("finished_at")) for r in records]
    first = min((e for e in ends if e is not None), default=0.0)
    for i, (r, f) in enumerate(zip(records, flat, strict=True)):
        params = {k: json.loads(f[k]) if k in f else None for k in differing}
        s = summarise(r)
        end = ends[i]
        at = None if end is None else round(end - first, 3)
        trials.append(
            Trial(i, s.run_id, s.model or "-", params, s.score, run_id=s.run_id, finished_s=at)
        )
    return SweepView(
        "multirun", metric, _greater_is_better(metric), tuple(differing), tuple(trials)
    )


def failed_steps(runs: Iterable[Record], recipe: str) -> tuple[str, ...]:
    """The step that failed in the latest run of ``recipe``, when that run failed and its
    record names the step (``failed_step``, from ``RunError.step``)."""
    latest = max(
        (r for r in runs if r.get("recipe") == recipe),
        key=lambda r: str(r.get("started_at", "")),
        default=None,
    )
    if latest is None or latest.get("status") != "failed" or not latest.get("failed_step"):
        return ()
    return (str(latest["failed_step"]),)


@dataclass(frozen=True)
class AliasMove:
    alias: str
    action: str
    version: str
    previous: str | None
    at: str
    actor: str | None  # None: moved before the registry recorded who and why
    reason: str | None


@dataclass(frozen=True)
class ModelView:
    name: str
    versions: tuple[Any, ...]  # engine.serving.ModelVersion, newest first
    metric_names: tuple[str, ...]
    history: tuple[AliasMove, ...]  # newest first
