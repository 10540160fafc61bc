"""The run record: typed and frozen while the run builds it, public JSON when stored.

:meth:`RunRecord.to_json` is the public format of ``sous runs show ID --json`` (fields listed
in docs/run-record.schema.json, which a test checks real records against): run_id, recipe,
status, started_at, finished_at, config, recipe_file, leaderboard, winner, test_metrics,
bento, steps, log, error, pid, host, pruned, sweep_stopped, select_metric, report, data,
profile, gate, smoke, model_version, promoted, build, cost, tradeoff (with
``select.tradeoff``). Records read back from the runs
database stay JSON: every consumer past the run reads the public format."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

JSON = dict[str, Any]


def _clean(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """NaN is not JSON: a metric that could not be computed is null."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


@dataclass(frozen=True)
class LeaderboardRow:
    model: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float | None]
    metrics_std: Mapping[str, float | None] = field(default_factory=dict)
    folds: tuple[Mapping[str, float | None], ...] = ()
    rank: int | None = None  # on the selection metric alone: tied rows share it
    tied: bool = False  # the selection metric tied with another row; tiebreak decided

    def to_json(self) -> JSON:
        return {
            "model": self.model,
            "params": dict(self.params),
            "metrics": _clean(self.metrics),
            "metrics_std": _clean(self.metrics_std),
            "folds": [_clean(f) for f in self.folds],
            "rank": self.rank,
            "tied": self.tied,
        }


@dataclass(frozen=True)
class StepRow:
    """One plan node (or release step): a cache hit, or what it cost in this run, and where
    and when it ran: ``worker`` is the Dask worker's address, ``"sync"`` for a node computed
    in the driver's process, ``"driver"`` for a release step; ``started_s`` is its start in
    seconds from the run's start (both ``None`` for a cache hit)."""

    name: str
    key: str
    cached: bool
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_mem_mb: float = 0.0
    rows: int | None = None
    worker: str | None = None
    started_s: float | None = None

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "key": self.key,
            "cached": self.cached,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "peak_mem_mb": self.peak_mem_mb,
            "rows": self.rows,
            "worker": self.worker,
            "started_s": self.started_s,
        }


@dataclass(frozen=True)
class OutOfCore:
    partitions: int
    sample_rows: int | None
    good_dir: str


@dataclass(frozen=True)
class FailedCheck:
    """A schema check that rows failed and the run went on (``schema.on_failure`` warn or
    quarantine): which, and how many rows; every row is in ``failures_path``."""

    column: str | None
    check: str
    rows: int

    def to_json(self) -> JSON:
        return {"column": self.column, "check": self.check, "rows": self.rows}


@dataclass(frozen=True)
class DataSummary:
    """Rows per source, through integration and validation; what was quarantined."""

    sources: Mapping[str, int | None]  # source name -> rows read
    rows_in: int | None
    rows_out: int | None
    quarantined: int
    quarantine_path: str | None
    steps: tuple[Mapping[str, Any], ...] = ()  # rows in/out of each integration op
    out_of_core: OutOfCore | None = None
    failed_checks: tuple[FailedCheck, ...] = ()  # what warn reported / quarantine moved
    failures_path: str | None = None  # the full table: one row per failed check per row

    def to_json(self) -> JSON:
        out: JSON = {
            "steps": [dict(s) for s in self.steps],
            "sources": {name: {"rows": rows} for name, rows in self.sources.items()},
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "quarantined": self.quarantined,
            "quarantine_path": self.quarantine_path,
            "failed_checks": [f.to_json() for f in self.failed_checks],
            "failures_path": self.failures_path,
        }
        if self.out_of_core is not None:
            ooc = self.out_of_core
            out["out_of_core"] = {
                "partitions": ooc.partitions,
                "sample_rows": ooc.sample_rows,
                "good_dir": ooc.good_dir,
            }
        return out


@dataclass(frozen=True)
class GateResult:
    passed: bool
    failures: tuple[str, ...]
    production: str | None  # the production version compared with, if any

    def to_json(self) -> JSON:
        return {
            "passed": self.passed,
            "failures": list(self.failures),
            "production": self.production,
        }


@dataclass(frozen=True)
class SmokeResult:
    passed: bool
    p99_ms: float | None
    n: int
    message: str

    def to_json(self) -> JSON:
        return {"passed": self.passed, "p99_ms": self.p99_ms, "n": self.n, "message": self.message}


@dataclass(frozen=True)
class BuildResult:
    bento: str
    dockerfile: str
    archive: str

    def to_json(self) -> JSON:
        return {"bento": self.bento, "dockerfile": self.dockerfile, "archive": self.archive}


@dataclass(frozen=True)
class ReleaseOutcome:
    """What happened after selection: gates, package, smoke test, promotion, build."""

    gate: GateResult
    bento: str | None = None
    model_version: str | None = None
    smoke: SmokeResult | None = None
    promoted: str | None = None
    build: BuildResult | None = None
    steps: tuple[StepRow, ...] = ()


@dataclass(frozen=True)
class Cost:
    cpu_s: float
    wall_s: float
    gb_hours: float
    estimate: float
    currency: str
    cpu_hour: float
    gb_hour: float

    def to_json(self) -> JSON:
        return {
            "cpu_s": self.cpu_s,
            "wall_s": self.wall_s,
            "gb_hours": self.gb_hours,
            "estimate": self.estimate,
            "currency": self.currency,
            "prices": {"cpu_hour": self.cpu_hour, "gb_hour": self.gb_hour},
        }


@dataclass(frozen=True)
class PrunedTrial:
    """A trial stopped before selection, with the last score the search saw: the mean CV
    score of the iteration a successive-halving candidate was eliminated at, or the fold
    score after which a CV-pruned trial stopped (None when it failed)."""

    model: str
    trial: int
    iteration: int | None = None  # successive halving: the iteration it was eliminated at
    n_resources: int | None = None  # ... and the resources it had there
    fold: int | None = None  # CV pruning: the fold (0-based) after which it stopped
    score: float | None = None
    params: Mapping[str, Any] | None = None

    def to_json(self) -> JSON:
        out: JSON = {"model": self.model, "trial": self.trial}
        if self.iteration is not None:
            out |= {"iteration": self.iteration, "n_resources": self.n_resources}
        if self.fold is not None:
            out["fold"] = self.fold
        if self.params is not None:
            out |= {"score": self.score, "params": dict(self.params)}
        return out


def halving_resource(record: Mapping[str, Any]) -> str:
    """What a halving run's ``n_resources`` count: rows (``n_samples``) or a model param."""
    sweep = (record.get("config") or {}).get("sweep") or {}
    return str((sweep.get("halving") or {}).get("resource") or "n_samples")


def where_stopped(entry: Mapping[str, Any], resource: str = "n_samples") -> str:
    """Where a stopped trial (an entry of a record's ``pruned``) stopped, in words: the
    halving iteration and the resources it had there, or the fold after which CV pruning
    stopped it. The CLI's leaderboard and the web UI's sweep page both say it so."""
    if entry.get("iteration") is not None:
        n = entry.get("n_resources")
        had = f"{n} rows" if resource == "n_samples" else f"{resource}={n}"
        return f"halving iteration {entry['iteration']} ({had})"
    if entry.get("fold") is not None:
        return f"pruned after fold {entry['fold']}"
    return "pruned"


@dataclass(frozen=True)
class TradeoffPoint:
    """One ``select.tradeoff`` candidate (a model's best trial): its score, what it was
    measured to cost, and whether it is on the Pareto front of score against cost."""

    model: str
    params: Mapping[str, Any]
    score: float
    latency_ms: float  # per row, single-threaded, median over the timed predicts
    size_mb: float  # the pickled fitted model
    train_cpu_s: float  # its refit's step row
    cost: float  # the declared weights times the three above
    on_front: bool
    chosen: bool

    def to_json(self) -> JSON:
        return {
            "model": self.model,
            "params": dict(self.params),
            "score": self.score,
            "latency_ms": self.latency_ms,
            "size_mb": self.size_mb,
            "train_cpu_s": self.train_cpu_s,
            "cost": self.cost,
            "on_front": self.on_front,
            "chosen": self.chosen,
        }


@dataclass(frozen=True)
class TradeoffResult:
    """``select.tradeoff``: the rule and every candidate (best score first); the front is
    the candidates with ``on_front``."""

    metric: str
    greater_is_better: bool
    tolerance: float
    relative: bool
    weights: Mapping[str, float]
    batch_rows: int
    repeats: int
    candidates: tuple[TradeoffPoint, ...]

    @property
    def chosen(self) -> TradeoffPoint:
        return next(c for c in self.candidates if c.chosen)

    def to_json(self) -> JSON:
        return {
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "tolerance": self.tolerance,
            "relative": self.relative,
            "weights": dict(self.weights),
            "batch_rows": self.batch_rows,
            "repeats": self.repeats,
            "candidates": [c.to_json() for c in self.candidates],
            "front": [c.model for c in self.candidates if c.on_front],
            "chosen": self.chosen.model,
        }


@dataclass(frozen=True)
class Results:
    """What the run's outputs say: leaderboard, test metrics, data, profile, report."""

    leaderboard: tuple[LeaderboardRow, ...]
    select_metric: str
    test_metrics: Mapping[str, float | None]
    report: str | None
    data: DataSummary
    profile: Mapping[str, Any] | None
    chosen: int = 0  # the leaderboard row served (not the first when a tradeoff chose)
    tradeoff: TradeoffResult | None = None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    recipe: str
    started_at: str
    config: Mapping[str, Any]
    recipe_file: str | None
    log: str
    pid: int
    host: str
    status: str = "running"  # running | succeeded | failed (| interrupted, set by the DB)
    finished_at: str | None = None
    steps: tuple[StepRow, ...] = ()
    results: Results | None = None
    pruned: tuple[PrunedTrial, ...] = ()
    sweep_stopped: str | None = None
    release: ReleaseOutcome | None = None
    cost: Cost | None = None
    error: str | None = None
    failed_step: str | None = None  # the step that failed, when a step did
    optuna_studies: Mapping[str, str] = field(default_factory=dict)  # model -> Optuna study
    optuna_storage: str | None = None  # the studies' RDB storage (engine.studies)
    performance_report: str | None = None  # `sous run --profile`: Dask's HTML report

    @property
    def winner(self) -> LeaderboardRow | None:
        res = self.results
        return res.leaderboard[res.chosen] if res and res.leaderboard else None

    @property
    def all_steps(self) -> tuple[StepRow, ...]:
        """The plan's nodes, then the release's steps (package, smoke)."""
        return self.steps + (self.release.steps if self.release else ())

    def with_(self, **changes: Any) -> RunRecord:
        return replace(self, **changes)

    def to_json(self) -> JSON:
        """The public format. Parts a run did not reach are absent, as they always were:
        results and cost once the plan ran, ``gate`` once released, ``model_version`` once
        packaged, ``smoke``, ``promoted`` and ``build`` when they happened."""
        res, rel = self.results, self.release
        winner = self.winner
        out: JSON = {
            "run_id": self.run_id,
            "recipe": self.recipe,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "config": self.config,
            "recipe_file": self.recipe_file,
            "leaderboard": [row.to_json() for row in res.leaderboard] if res else [],
            "winner": winner.to_json() if winner else None,
            "test_metrics": _clean(res.test_metrics) if res else None,
            "bento": rel.bento if rel else None,
            "steps": [s.to_json() for s in self.all_steps],
            "log": self.log,
            "error": self.error,
            "failed_step": self.failed_step,
            "pid": self.pid,
            "host": self.host,
        }
        if res is not None:
            out["pruned"] = [p.to_json() for p in self.pruned]
            out["sweep_stopped"] = self.sweep_stopped
            out["select_metric"] = res.select_metric
            out["report"] = res.report
            out["data"] = res.data.to_json()
            out["profile"] = dict(res.profile) if res.profile is not None else None
            if res.tradeoff is not None:
                out["tradeoff"] = res.tradeoff.to_json()
        if rel is not None:
            out["gate"] = rel.gate.to_json()
            if rel.model_version is not None:
                out["model_version"] = rel.model_version
            if rel.smoke is not None:
                out["smoke"] = rel.smoke.to_json()
            if rel.promoted is not None:
                out["promoted"] = rel.promoted
            if rel.build is not None:
                out["build"] = rel.build.to_json()
        if self.cost is not None:
            out["cost"] = self.cost.to_json()
        if self.optuna_studies:
            out["optuna"] = {"storage": self.optuna_storage, "studies": dict(self.optuna_studies)}
        if self.performance_report is not None:
            out["performance_report"] = self.performance_report
        return out
