"""Where each node ran (issue 10): a worker sends the placements of one Dask task's nodes as
one event, not one per node, and the session still reads back every computed node with
the worker that ran it, on a real LocalCluster."""

from __future__ import annotations

from typing import Any

import pytest
import toy_steps
from toy_plans import toy_plan

from engine.errors import RunError
from engine.execution.compile import compile_plan, linear_chains
from engine.execution.executors import DaskExecutor
from engine.execution.runtime import PLACEMENT_TOPIC, Placement
from engine.execution.sessions import DaskSession, run_compiled
from engine.plan import Plan, PlanBuilder, Ref
from engine.specs import ClusterSpec
from engine.store.cache import ArtifactCache


@pytest.fixture(scope="module")
def dask_executor():  # type: ignore[no-untyped-def]
    with DaskExecutor(ClusterSpec(workers=2)) as ex:
        yield ex


def events(ex: Any) -> list[dict[str, Any]]:
    return [msg for _, msg in ex.client.get_events(PLACEMENT_TOPIC)]


def workers(ex: Any) -> set[str]:
    return set(ex.client.scheduler_info(n_workers=-1)["workers"])


def test_an_event_round_trips_every_placement() -> None:
    placed = [Placement("a", "tcp://w:1", 10.0), Placement("b", "tcp://w:1", 10.5)]
    assert Placement.from_event(Placement.to_event(placed)) == placed


def test_one_event_per_task_and_every_node_placed_on_its_worker(tmp_path, dask_executor) -> None:
    cache, chain = ArtifactCache(tmp_path), toy_plan(n=6)
    b = PlanBuilder("mixed")
    b.nodes.update(chain.nodes)
    alone = [b.add(f"alone{i}", toy_steps.add, {"a": i, "b": 1}) for i in range(4)]
    plan = Plan("mixed", dict(b.nodes), {**chain.outputs, **{k: k for k in alone}})
    compiled = compile_plan(plan, cache, plan.outputs.values())
    tasks = len(linear_chains(compiled.tasks))
    assert tasks == 5  # the chain of four is one Dask task, each lone node another
    before = len(events(dask_executor))
    session = dask_executor.session(str(cache.root))
    assert isinstance(session, DaskSession)
    session.submit(compiled.tasks)
    while session.has_pending():
        session.next_done()
    placed = session.placements()
    session.close()

    assert len(events(dask_executor)) - before == tasks
    assert set(placed) == set(plan.nodes)
    assert {p.worker for p in placed.values()} <= workers(dask_executor)
    in_chain = [placed[k] for k in chain.nodes]
    assert len({p.worker for p in in_chain}) == 1  # a chain runs on one worker
    starts = [p.started for p in in_chain]
    assert starts == sorted(starts) and starts[0] >= session.opened - 1.0


def test_nodes_before_a_failure_in_a_chain_are_still_placed(tmp_path, dask_executor) -> None:
    cache, plan = ArtifactCache(tmp_path), toy_plan(n=3)
    b = PlanBuilder("crash")
    b.nodes.update(plan.nodes)
    bad = b.add("boom", toy_steps.boom, {"value": Ref(plan.outputs["final"])})
    crashing = Plan("crash", dict(b.nodes), {"boom": bad})
    session = dask_executor.session(str(cache.root))
    with pytest.raises(RunError):
        run_compiled(session, compile_plan(crashing, cache, [bad]), lambda t: None)
    placed = session.placements()
    assert set(plan.nodes) <= set(placed) and bad not in placed
