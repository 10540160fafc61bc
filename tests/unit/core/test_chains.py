"""Linear chains run as one executor task: grouping, values, failures, later readers."""

from __future__ import annotations

import pytest
import toy_steps
from toy_plans import toy_plan

from engine.errors import RunError
from engine.execution.compile import Task, compile_plan, linear_chains
from engine.execution.executors import DaskExecutor, SyncExecutor
from engine.execution.sessions import run_compiled
from engine.plan import Plan, PlanBuilder, Ref
from engine.specs import ClusterSpec
from engine.store.cache import ArtifactCache


def steps(runs: list[tuple[Task, ...]]) -> list[list[str]]:
    return [[t.node.step for t in run] for run in runs]


def tasks_of(plan: Plan, cache: ArtifactCache) -> tuple[Task, ...]:
    return compile_plan(plan, cache, plan.outputs.values()).tasks


def test_a_straight_line_is_one_run(tmp_path) -> None:
    runs = linear_chains(tasks_of(toy_plan(), ArtifactCache(tmp_path)))
    assert steps(runs) == [["source", "split", "add", "final"]]


def test_fan_out_fan_in_and_resources_break_chains(tmp_path) -> None:
    b = PlanBuilder("shape")
    src = b.add("source", toy_steps.source, {"n": 4})
    left = b.add("left", toy_steps.add, {"a": 1, "b": Ref(src, (0,))})
    right = b.add("right", toy_steps.add, {"a": 2, "b": Ref(src, (1,))})
    both = b.add("both", toy_steps.add, {"a": Ref(left), "b": Ref(right)})
    after = b.add("after", toy_steps.add, {"a": Ref(both), "b": 1})
    gpu = b.add("gpu", toy_steps.add, {"a": Ref(after), "b": 1}, resources={"GPU": 1})
    plan = Plan("shape", dict(b.nodes), {"gpu": gpu})
    runs = linear_chains(tasks_of(plan, ArtifactCache(tmp_path)))
    assert steps(runs) == [["source"], ["left"], ["right"], ["both", "after"], ["gpu"]]


def test_cached_nodes_are_loads_and_never_join_a_chain(tmp_path) -> None:
    cache, plan = ArtifactCache(tmp_path), toy_plan()
    SyncExecutor().run(compile_plan(plan, cache, [plan.outputs["pair"]]), str(cache.root), print)
    changed = toy_plan(extra=1)
    runs = linear_chains(tasks_of(changed, cache))
    assert [[(t.node.step, t.mode) for t in run] for run in runs] == [
        [("split", "load")],
        [("add", "compute"), ("final", "compute")],
    ]


@pytest.fixture(scope="module")
def dask_executor():
    with DaskExecutor(ClusterSpec(workers=1)) as ex:
        yield ex


def test_a_chain_is_one_dask_task_and_reports_every_node_in_order(tmp_path, dask_executor) -> None:
    cache, plan = ArtifactCache(tmp_path), toy_plan(n=6, extra=2)
    session = dask_executor.session(str(cache.root))
    compiled = compile_plan(plan, cache, plan.outputs.values())
    session.submit(compiled.tasks)
    assert list(session.futures) == [plan.outputs["final"]]
    done = []
    while session.has_pending():
        done.append(session.next_done().node.step)
    assert done == ["source", "split", "add", "final"]
    assert session.value(plan.outputs["final"]) == sum(range(6)) + 2
    assert session.value(plan.outputs["pair"]).left == sum(range(0, 6, 2))
    session.close()


def test_a_later_task_can_read_a_node_inside_a_chain(tmp_path, dask_executor) -> None:
    cache, plan = ArtifactCache(tmp_path), toy_plan(n=4)
    b = PlanBuilder("later")
    b.nodes.update(plan.nodes)
    later = b.add("later", toy_steps.add, {"a": Ref(plan.outputs["pair"], ("right",)), "b": 100})
    session = dask_executor.session(str(cache.root))
    session.submit(compile_plan(plan, cache, [plan.outputs["final"]]).tasks)
    session.submit(
        compile_plan(
            b.nodes, cache, [later], known=session.futures.keys() | session.inside.keys()
        ).tasks
    )
    while session.has_pending():
        session.next_done()
    assert session.value(later) == 1 + 3 + 100
    session.close()


def test_a_failing_node_inside_a_chain_is_named_and_the_nodes_before_it_are_kept(
    tmp_path, dask_executor
) -> None:
    cache, plan = ArtifactCache(tmp_path), toy_plan()
    b = PlanBuilder("crash")
    b.nodes.update(plan.nodes)
    bad = b.add("boom", toy_steps.boom, {"value": Ref(plan.outputs["final"])})
    tail = b.add("tail", toy_steps.add, {"a": Ref(bad), "b": 1})
    crashing = Plan("crash", dict(b.nodes), {"tail": tail})
    compiled = compile_plan(crashing, cache, [tail])
    assert len(linear_chains(compiled.tasks)) == 1
    with pytest.raises(RunError) as err:
        run_compiled(dask_executor.session(str(cache.root)), compiled, lambda t: None)
    assert err.value.step == "boom" and "boom on 45" in str(err.value)
    assert all(cache.has(k) for k in plan.nodes) and not cache.has(bad)


def test_a_chain_lets_each_output_go_once_its_reader_has_run(tmp_path) -> None:
    import toy_steps

    from engine.execution.runtime import execute_chain

    toy_steps.SEEN.clear()
    b = PlanBuilder("blobs")
    first = b.add("blob", toy_steps.blob, {"n": 1})
    second = b.add("follow", toy_steps.follow, {"blob": Ref(first)})
    check = b.add("released", toy_steps.released, {"blob": Ref(second)})
    nodes = tuple(b.nodes[k] for k in (first, second, check))
    assert execute_chain(nodes, str(tmp_path), ()) is True


def test_a_forgotten_task_is_released_and_read_from_the_cache_after(
    tmp_path, dask_executor
) -> None:
    cache, plan = ArtifactCache(tmp_path), toy_plan(n=5)
    session = dask_executor.session(str(cache.root))
    session.submit(compile_plan(plan, cache, plan.outputs.values()).tasks)
    while session.has_pending():
        session.next_done()
    final, pair = plan.outputs["final"], plan.outputs["pair"]
    session.forget(final)
    session.forget(pair)  # an inner node of the chain
    assert not session.known(final) and not session.known(pair)
    assert cache.load(final) == sum(range(5))
    session.close()
