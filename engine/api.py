"""The programmatic face of Sous: ``run``, ``plan``, ``validate``. Assembly only."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from engine.errors import SousError
from engine.specs import RecipeSpec


def validate(
    recipe: str,
    overrides: Sequence[str] = (),
    *,
    reuse_validation: bool = False,
    before_full_validation: Callable[[Any], None] | None = None,
) -> RecipeSpec:
    """Compose and validate a recipe; raises RecipeError listing every problem.
    ``reuse_validation`` skips the checks of a config that validated before (runs)."""
    from engine.recipe import load_recipe

    return load_recipe(
        recipe,
        overrides,
        reuse_validation=reuse_validation,
        before_full_validation=before_full_validation,
    )


def plan(spec: RecipeSpec) -> tuple[Any, Any]:
    """The plan of a recipe and which of its nodes are already cached."""
    from engine.compile import compile_plan
    from engine.home import cache_dir
    from engine.plan import build_plan
    from engine.store.cache import ArtifactCache

    the_plan = build_plan(spec, propose_trials(spec))
    return the_plan, compile_plan(the_plan, ArtifactCache(cache_dir()), the_plan.outputs.values())


def propose_trials(spec: RecipeSpec) -> Mapping[str, tuple[Mapping[str, Any], ...]] | None:
    if spec.sweep is None:
        return None
    from engine.sweeps import propose

    return {m.name: propose(m, spec.sweep, spec.seed) for m in spec.models}


def run(
    spec: RecipeSpec,
    *,
    executor: str | None = None,
    stream: TextIO | None = None,
    group_id: str | None = None,
    starter: Any = None,
) -> dict[str, Any]:
    """Run a recipe end to end; returns the run record (also stored in the runs database).
    ``starter``: an ``executors.ClusterStarter`` already bringing up the local cluster."""
    from engine import records
    from engine.executors import make_executor, stop_in_background
    from engine.home import cache_dir, db_url, runs_dir
    from engine.progress import Progress
    from engine.release import release
    from engine.scheduler import Driver
    from engine.store.cache import ArtifactCache
    from engine.store.runs import RunsDB, new_run_id, now_iso

    run_id = new_run_id()
    log_path = runs_dir() / run_id / "run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    db = RunsDB(db_url())
    record = records.start_record(spec, run_id, str(log_path))
    db.start(record, group_id)
    progress = Progress(stream, log_file=log_path)
    progress.line(f"run {run_id}: recipe {spec.name}")
    stopping = None
    try:
        cache = ArtifactCache(cache_dir())
        if executor is None and _fully_cached(spec):
            executor = "sync"  # nothing to compute: don't pay for starting a cluster
        ex = make_executor(spec.cluster, executor, starter).__enter__()
        try:
            progress.begin(ex.name, ex.dashboard)
            session = ex.session(str(cache.root))
            try:
                result = Driver(spec, cache, session, progress, ex.slots).run()
            finally:
                session.close()
        finally:
            stopping = stop_in_background(ex)  # the cluster stops while we write the record
        the_plan, outputs = result.plan, result.outputs
        record["steps"] = records.step_rows(the_plan, result.computed, cache)
        record["pruned"], record["sweep_stopped"] = result.pruned, result.stopped
        record.update(records.results(the_plan, outputs, cache, record["steps"]))
        record["steps"] += release(
            spec, outputs, the_plan.outputs["model"], record, cache, progress
        )
        record["cost"] = records.cost(record["steps"], spec.cost)
        record["status"] = "succeeded"
        _summarise(record, progress)
    except BaseException as exc:
        record["status"] = "failed"
        record["error"] = str(exc) if isinstance(exc, SousError) else f"{type(exc).__name__}: {exc}"
        progress.line(f"run {run_id} FAILED: {record['error']}")
        progress.line("fix the problem and rerun: finished steps are cached and will not run again")
        raise
    finally:
        record["finished_at"] = now_iso()
        db.finish(record)
        progress.close()
        if stopping is not None:
            stopping.join()
    return record


def _fully_cached(spec: RecipeSpec) -> bool:
    """True when every output of the (static) plan is already in the cache."""
    if spec.sweep is not None and spec.sweep.strategy == "optuna":
        return False
    _, compiled = plan(spec)
    return not compiled.to_compute


def _summarise(record: Mapping[str, Any], progress: Any) -> None:
    w = record["winner"]
    metric = record["select_metric"]
    progress.line(f"winner: {w['model']} {metric}={w['metrics'].get(metric)} params={w['params']}")
    progress.line(f"test: {record['test_metrics']}")
    hits = sum(1 for s in record["steps"] if s["cached"])
    progress.line(f"done: {hits}/{len(record['steps'])} steps cached; bento {record['bento']}")
