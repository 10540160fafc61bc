from __future__ import annotations

import pytest
import toy_steps
from toy_plans import toy_plan

from engine.errors import RunError, UserError
from engine.execution.compile import compile_plan
from engine.execution.executors import DaskExecutor, SyncExecutor, make_executor
from engine.plan import Plan, PlanBuilder, Ref
from engine.specs import ClusterSpec
from engine.store.cache import ArtifactCache


def run(plan: Plan, cache: ArtifactCache, executor) -> tuple[dict, list[str]]:
    done: list[str] = []
    compiled = compile_plan(plan, cache, plan.outputs.values())
    with executor as ex:
        values = ex.run(compiled, str(cache.root), lambda t: done.append(t.node.step))
    return values, done


def test_sync_runs_everything_then_nothing(tmp_path) -> None:
    cache, plan = ArtifactCache(tmp_path), toy_plan(n=10, extra=5)
    values, done = run(plan, cache, SyncExecutor())
    assert values[plan.outputs["final"]] == sum(range(10)) + 5
    assert done == ["source", "split", "add", "final"]
    compiled = compile_plan(plan, cache, plan.outputs.values())
    assert compiled.to_compute == () and set(compiled.targets) <= compiled.cached


def test_only_changed_nodes_recompute(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    run(toy_plan(extra=0), cache, SyncExecutor())
    plan = toy_plan(extra=1)
    compiled = compile_plan(plan, cache, plan.outputs.values())
    assert [t.node.step for t in compiled.to_compute] == ["final"]
    assert [t.node.step for t in compiled.tasks if t.mode == "load"] == ["add"]


def test_a_crashed_run_resumes_after_the_last_finished_node(tmp_path) -> None:
    cache, plan = ArtifactCache(tmp_path), toy_plan()
    b = PlanBuilder("crash")
    b.nodes.update(plan.nodes)
    bad = b.add("boom", toy_steps.boom, {"value": Ref(plan.outputs["final"])})
    crashing = Plan("crash", dict(b.nodes), {"boom": bad})
    with pytest.raises(RunError) as err:
        run(crashing, cache, SyncExecutor())
    assert err.value.step == "boom"
    assert all(cache.has(k) for k in plan.nodes)
    compiled = compile_plan(plan, cache, plan.outputs.values())
    assert compiled.to_compute == ()


def test_dask_equals_sync_and_uses_worker_processes(tmp_path) -> None:
    plan = toy_plan(n=20, extra=3)
    sync_values, _ = run(plan, ArtifactCache(tmp_path / "a"), SyncExecutor())
    dask_values, done = run(
        plan, ArtifactCache(tmp_path / "b"), DaskExecutor(ClusterSpec(workers=2))
    )
    assert dask_values == sync_values
    assert sorted(done) == ["add", "final", "source", "split"]
    b = PlanBuilder("pid")
    key = b.add("pid", toy_steps.pid, {"value": 1})
    values, _ = run(
        Plan("pid", dict(b.nodes), {"pid": key}),
        ArtifactCache(tmp_path / "c"),
        DaskExecutor(ClusterSpec(workers=1)),
    )
    import os

    assert values[key] != os.getpid()


def test_dask_step_failure_names_the_step(tmp_path) -> None:
    b = PlanBuilder("boom")
    key = b.add("boom", toy_steps.boom, {"value": 7})
    with pytest.raises(RunError) as err:
        run(
            Plan("boom", dict(b.nodes), {"boom": key}),
            ArtifactCache(tmp_path),
            DaskExecutor(ClusterSpec(workers=1)),
        )
    assert err.value.step == "boom" and "boom on 7" in str(err.value)


def test_resources_no_worker_offers_fail_fast(tmp_path) -> None:
    b = PlanBuilder("gpu")
    key = b.add("fit", toy_steps.add, {"a": 1, "b": 2}, resources={"GPU": 1})
    with pytest.raises(UserError) as err:
        run(
            Plan("gpu", dict(b.nodes), {"fit": key}),
            ArtifactCache(tmp_path),
            DaskExecutor(ClusterSpec(workers=1)),
        )
    assert "GPU" in str(err.value)


def test_resources_route_to_workers_that_offer_them(tmp_path) -> None:
    b = PlanBuilder("gpu")
    key = b.add("fit", toy_steps.add, {"a": 1, "b": 2}, resources={"GPU": 1})
    spec = ClusterSpec(workers=1, resources={"GPU": 1})
    values, _ = run(
        Plan("gpu", dict(b.nodes), {"fit": key}), ArtifactCache(tmp_path), DaskExecutor(spec)
    )
    assert values[key] == 3


def test_remote_without_address_is_a_user_error(tmp_path) -> None:
    with pytest.raises(UserError) as err, make_executor(ClusterSpec(kind="remote")):
        pass
    assert err.value.key_path == "cluster.address"


def test_unknown_executor_is_a_user_error() -> None:
    with pytest.raises(UserError):
        make_executor(ClusterSpec(), "spark")


def test_local_workers_fork_from_the_warm_server_with_the_current_environment(
    tmp_path, monkeypatch
) -> None:
    import multiprocessing.forkserver as forkserver

    import dask

    from engine.execution.cluster import METHOD, start_warm_server

    start_warm_server()
    server = forkserver._forkserver._forkserver_pid
    monkeypatch.setenv("SOUS_SET_AFTER_THE_SERVER_STARTED", "yes")
    b = PlanBuilder("env")
    key = b.add("env", toy_steps.env, {"name": "SOUS_SET_AFTER_THE_SERVER_STARTED"})
    values, _ = run(
        Plan("env", dict(b.nodes), {"env": key}),
        ArtifactCache(tmp_path),
        DaskExecutor(ClusterSpec(workers=1)),
    )
    assert values[key] == ("yes", server)
    assert dask.config.get(METHOD) == "spawn", "the start method is set only while starting"


def test_dask_session_stays_consistent_when_tasks_are_cancelled(tmp_path) -> None:
    """Crash #5: cancelled futures still come out of ``as_completed``; a session whose only
    remaining tasks were cancelled has nothing pending (no StopIteration), and a key
    submitted again after its cancellation runs and is handed out once."""
    from engine.execution.compile import Task

    b = PlanBuilder("cancel")
    slow = [
        b.add(f"slow{i}", toy_steps.slow_add, {"a": i, "b": 1, "seconds": 0.5}) for i in range(4)
    ]
    quick = b.add("quick", toy_steps.add, {"a": 1, "b": 2})
    tasks = {k: Task(n, "compute") for k, n in b.nodes.items()}
    with DaskExecutor(ClusterSpec(workers=2)) as ex:
        for i in range(3):
            session = ex.session(str(tmp_path / f"cache{i}"))  # nothing cached yet
            session.submit([tasks[k] for k in [*slow, quick]])
            session.cancel(slow)
            assert session.next_done().key == quick
            assert not session.has_pending()
            session.submit([tasks[slow[0]]])  # the same key again, after its cancellation
            assert session.has_pending()
            assert session.next_done().key == slow[0]
            assert session.value(slow[0]) == 1
            assert not session.has_pending()
            session.close()


def test_local_cluster_workers_start_with_the_steps_heavy_imports_done(tmp_path) -> None:
    """The validate step's pandera backends (about a second of imports) are loaded by the
    worker preload, not by the first validate of a run."""
    names = (
        "sklearn.ensemble",
        "pandas",
        "pandera.pandas",
        "pandera.backends.pandas.builtin_checks",
    )
    b = PlanBuilder("imports")
    key = b.add("imported", toy_steps.imported, {"names": names})
    values, _ = run(
        Plan("imports", dict(b.nodes), {"out": key}),
        ArtifactCache(tmp_path),
        DaskExecutor(ClusterSpec(workers=1)),
    )
    assert values[key] == dict.fromkeys(names, True)
