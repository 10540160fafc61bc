"""A :class:`Run` owns one run of a recipe: it starts the record, drives the plan, releases
the winner, prices the run and finishes the record, whatever happens on the way.

The plan comes from one :class:`~engine.run.assemble.Assembler`: the fully-cached check and
the driver share it, so the nodes are built once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TextIO

from engine import studies
from engine.errors import SousError, UserError
from engine.execution.cluster import profiled
from engine.execution.compile import compile_plan
from engine.execution.executors import Executor, make_executor
from engine.execution.performance import performance_report
from engine.home import db_url, runs_dir
from engine.numbers import metrics_line, number, params_line
from engine.progress import Progress
from engine.run.assemble import Assembler
from engine.run.driver import Driver, RunResult
from engine.run.record import RunRecord
from engine.run.release import Winner, release
from engine.run.report import write_run_report
from engine.run.results import cost, results, run_started, start_record, step_rows
from engine.run.sources import ReadOnce
from engine.specs import RecipeSpec
from engine.store.cache import ArtifactCache
from engine.store.fs import cache_location
from engine.store.runs import RunsDB, new_run_id, now_iso


class Run:
    """``Run(spec).execute()`` -> the finished :class:`RunRecord` (also in the runs DB).

    ``executor`` overrides the recipe's cluster (``sync``, ``local``, ``remote``);
    ``starter`` is a local cluster already starting (see ``engine.execution.cluster.ClusterStarter``);
    ``group_id`` ties the runs of one multirun together; ``profile`` saves Dask's
    performance report with the run (``sous run --profile``)."""

    def __init__(
        self,
        spec: RecipeSpec,
        *,
        executor: str | None = None,
        stream: TextIO | None = None,
        group_id: str | None = None,
        starter: Any = None,
        profile: bool = False,
    ):
        self.spec = spec
        self.executor = executor
        self.stream = stream
        self.group_id = group_id
        self.starter = starter
        self.profile = profile
        if profile and (executor or spec.cluster.kind) == "sync":
            raise UserError(
                "--profile records Dask's performance report, and this run computes in"
                " this process (cluster.kind sync) with no Dask scheduler to report",
                key_path="cluster.kind",
                hint="profile on a local Dask cluster: add --executor local (or set"
                " cluster.kind=local); a sync run's step timings are in `sous runs show`",
            )

    def execute(self) -> RunRecord:

        run_id = new_run_id()
        log_path = runs_dir() / run_id / "run.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        db = RunsDB(db_url())
        record = start_record(self.spec, run_id, str(log_path))
        db.start(record.to_json(), self.group_id)
        progress = Progress(self.stream, log_file=log_path)
        progress.line(f"run {run_id}: recipe {self.spec.name}")
        executor: Executor | None = None
        try:
            cache = ArtifactCache(cache_location())  # $SOUS_CACHE_URL or the home's
            salts = ReadOnce(self.spec, cache)  # each query read once, here
            assembler = Assembler(self.spec, salts, cache)
            profile_dir = runs_dir() / run_id if self.profile else None
            with (
                studies.for_run(self.spec.name, run_id) as optuna,
                self._executor(assembler, cache) as executor,
            ):
                progress.begin(executor.name, executor.dashboard)
                with performance_report(executor, profile_dir) as report:
                    result = self._drive(assembler, cache, executor, progress)
            record = _with_studies(record, optuna, report.path)
            result.computed.update(salts.seeded)  # queries this run read (for its record)
            record = self._finish(record, result, cache, progress)
        except BaseException as exc:
            error = str(exc) if isinstance(exc, SousError) else f"{type(exc).__name__}: {exc}"
            step = getattr(exc, "step", None)  # RunError names its step
            record = record.with_(status="failed", error=error, failed_step=step)
            progress.line(f"run {run_id} FAILED: {error}")
            progress.line(
                "fix the problem and rerun: finished steps are cached and will not run again"
            )
            raise
        finally:
            record = record.with_(finished_at=now_iso())
            db.finish(record.to_json())
            progress.close()
            if executor is not None:
                executor.wait_stopped()  # the cluster stopped while we wrote the record
        return record

    def _executor(self, assembler: Assembler, cache: ArtifactCache) -> Executor:
        kind = self.executor
        if kind is None and not self.profile:  # a profile wants the cluster, cached or not
            static = assembler.static()
            compiled = compile_plan(static.plan, cache, static.plan.outputs.values())
            if not static.deferred and not compiled.to_compute:
                kind = "sync"  # nothing to compute: don't pay for starting a cluster
        cluster = profiled(self.spec.cluster) if self.profile else self.spec.cluster
        return make_executor(cluster, kind, self.starter, stop_in_background=True)

    def _drive(
        self, assembler: Assembler, cache: ArtifactCache, executor: Executor, progress: Progress
    ) -> RunResult:
        session = executor.session(cache.location)
        try:
            driver = Driver(self.spec, cache, session, progress, executor.slots, assembler)
            return driver.run()
        finally:
            session.close()

    def _finish(
        self, record: RunRecord, result: RunResult, cache: ArtifactCache, progress: Progress
    ) -> RunRecord:
        plan = result.plan
        found = results(plan, result.outputs, cache)
        started = run_started(record)
        record = record.with_(
            steps=step_rows(plan, result.computed, cache, result.placements, started),
            results=found,
            pruned=tuple(result.pruned),
            sweep_stopped=result.stopped,
        )
        test_metrics = record.to_json()["test_metrics"]
        winner = Winner(
            record.run_id, plan, result.outputs, test_metrics, found.select_metric, started
        )
        record = record.with_(release=release(self.spec, winner, cache, progress))
        record = _with_report(record, result.outputs)
        record = record.with_(cost=cost(record.all_steps, self.spec.cost), status="succeeded")
        _summarise(record, progress)
        return record


def _with_studies(record: RunRecord, optuna: studies.RunStudies, performance: Any) -> RunRecord:
    """The run's Optuna studies (by model) and Dask performance report, when it made them."""
    return record.with_(
        optuna_studies=dict(optuna.by_model),
        optuna_storage=optuna.url if optuna.by_model else None,
        performance_report=str(performance) if performance else None,
    )


def _with_report(record: RunRecord, outputs: Any) -> RunRecord:
    """The run's own report (recipe, run, model, version, leaderboard, profile) replaces the
    test step's, which cached work shares between runs (see engine/run/report.py)."""
    path = write_run_report(record, outputs, runs_dir() / record.run_id)
    if path is None or record.results is None:
        return record
    return record.with_(results=replace(record.results, report=path))


def _summarise(record: RunRecord, progress: Progress) -> None:
    public = record.to_json()
    w = public["winner"]
    metric = public["select_metric"]
    score = number(w["metrics"].get(metric))
    progress.line(f"winner: {w['model']} {metric} {score} ({params_line(w['params'])})")
    progress.line(f"test: {metrics_line(public['test_metrics'])}")
    if line := _failed_checks_line(public.get("data") or {}):
        progress.line(line)
    hits = sum(1 for s in record.all_steps if s.cached)
    progress.line(f"done: {hits}/{len(record.all_steps)} steps cached; bento {public['bento']}")


def _failed_checks_line(data: dict[str, Any]) -> str | None:
    """What ``schema.on_failure: warn`` (or quarantine) let through or set aside, in one line."""
    failed = data.get("failed_checks") or []
    if not failed:
        return None
    parts = [f"{f['column'] or 'frame'}:{f['check']} ({f['rows']} rows)" for f in failed[:5]]
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return f"schema: rows failed {', '.join(parts)}{more}; all failures: {data['failures_path']}"
