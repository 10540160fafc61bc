"""The engine's per-node overhead, cut by batching: a submission is one graph to the Dask
scheduler (not one ``client.submit`` per task), values come back in one gather, the cache is
asked only about the nodes a submission needs, and the driver submits a sweep's trials
together. Each test checks the behaviour (calls made, values, cache entries), never time."""

from __future__ import annotations

from typing import Any

import pytest
import toy_steps
from toy_plans import toy_plan

from engine.execution.compile import compile_plan
from engine.execution.executors import DaskExecutor
from engine.execution.sessions import DaskSession, SyncSession, run_compiled
from engine.plan import Plan, PlanBuilder, Ref
from engine.specs import ClusterSpec
from engine.store.cache import ArtifactCache


class CountingClient:
    """A real Dask client that counts the calls that each cost a message to the scheduler."""

    def __init__(self, client: Any):
        self.client = client
        self.calls: dict[str, int] = {}
        self.graphs: list[int] = []  # tasks in each ``get``

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name not in ("get", "submit", "gather") or not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == "get":
                self.graphs.append(len(args[0]))
            return attr(*args, **kwargs)

        return counted


@pytest.fixture(scope="module")
def cluster():
    with DaskExecutor(ClusterSpec(workers=1, resources={"TOKEN": 1})) as ex:
        yield ex


def session_of(ex: DaskExecutor, cache: ArtifactCache) -> tuple[DaskSession, CountingClient]:
    client = CountingClient(ex.client)
    return DaskSession(client, str(cache.root), ex._check_resources), client


def fan_plan(n: int = 5) -> tuple[Plan, list[str], str]:
    """``n`` independent nodes and one that reads them all (a fan-out and a fan-in)."""
    b = PlanBuilder("fan")
    leaves = [b.add(f"leaf{i}", toy_steps.add, {"a": i, "b": 10}) for i in range(n)]
    total = b.add("total", toy_steps.split, {"values": tuple(Ref(k) for k in leaves)})
    return Plan("fan", dict(b.nodes), {"total": total}), leaves, total


def test_a_submission_is_one_graph_and_its_values_come_back_in_one_gather(
    tmp_path, cluster
) -> None:
    cache = ArtifactCache(tmp_path)
    plan, leaves, total = fan_plan()
    session, client = session_of(cluster, cache)
    compiled = compile_plan(plan, cache, [*leaves, total])
    values = run_compiled(session, compiled, lambda t: None)
    assert client.calls == {"get": 1, "gather": 1}  # no client.submit, no result() each
    assert client.graphs == [len(leaves) + 1]
    assert values == {
        **{k: i + 10 for i, k in enumerate(leaves)},
        total: toy_steps.Pair(10 + 12 + 14, 11 + 13),
    }
    assert all(cache.has(k) for k in plan.nodes)  # every node persisted, as before


def test_a_stretch_asking_for_other_resources_is_its_own_graph_reading_the_first(
    tmp_path, cluster
) -> None:
    cache = ArtifactCache(tmp_path)
    b = PlanBuilder("res")
    src = b.add("source", toy_steps.source, {"n": 4})
    left = b.add("left", toy_steps.add, {"a": 1, "b": Ref(src, (0,))})
    right = b.add("right", toy_steps.add, {"a": 2, "b": Ref(src, (1,))})
    gpu = b.add("token", toy_steps.add, {"a": Ref(left), "b": Ref(right)}, resources={"TOKEN": 1})
    plan = Plan("res", dict(b.nodes), {"token": gpu})
    session, client = session_of(cluster, cache)
    values = run_compiled(session, compile_plan(plan, cache, [gpu]), lambda t: None)
    assert client.calls["get"] == 2 and client.graphs == [3, 1]
    assert values == {gpu: (1 + 0) + (2 + 1)}


def test_a_cancelled_task_submitted_again_with_its_reader_runs_under_a_fresh_key(
    tmp_path, cluster
) -> None:
    """After a cancellation a key goes in as ``KEY~N``; a reader in the same graph must
    read it under that name."""
    cache = ArtifactCache(tmp_path)
    b = PlanBuilder("again")
    slow = b.add("slow", toy_steps.slow_add, {"a": 7, "b": 0, "seconds": 0.5})
    left = b.add("left", toy_steps.add, {"a": Ref(slow), "b": 1})
    right = b.add("right", toy_steps.add, {"a": Ref(slow), "b": 2})
    plan = Plan("again", dict(b.nodes), {"left": left, "right": right})
    session, _ = session_of(cluster, cache)
    session.submit(compile_plan(plan, cache, [left, right]).tasks)
    session.cancel([slow, left, right])
    assert not session.has_pending()
    session.submit(compile_plan(plan, cache, [left, right]).tasks)
    assert session.futures[slow].key == f"{slow}~1"
    done = set()
    while session.has_pending():
        done.add(session.next_done().key)
    assert done == {slow, left, right}
    assert session.values([left, right]) == {left: 8, right: 9}
    session.close()


class ProbedCache(ArtifactCache):
    def __init__(self, root: Any):
        super().__init__(root)
        self.probed: list[str] = []

    def has(self, key: str) -> bool:
        self.probed.append(key)
        return super().has(key)


def test_compiling_for_a_batch_asks_the_cache_only_about_the_nodes_it_needs(tmp_path) -> None:
    cache = ProbedCache(tmp_path)
    plan, leaves, total = fan_plan(n=6)
    run_compiled(
        SyncSession(str(cache.root)), compile_plan(plan, cache, [leaves[0]]), lambda t: None
    )
    cache.probed.clear()
    walked = compile_plan(plan, cache, [leaves[1]], walk_only=True)
    assert cache.probed == [leaves[1]]  # not every node of the plan
    assert [(t.key, t.mode) for t in walked.tasks] == [(leaves[1], "compute")]
    full = compile_plan(plan, cache, [total])
    walked = compile_plan(plan, cache, [total], walk_only=True)
    assert walked.tasks == full.tasks  # same work: leaf 0 is a load, the rest compute
    assert [t.mode for t in walked.tasks].count("load") == 1
    assert full.cached == {leaves[0]} and walked.cached == {leaves[0]}
    cache.probed.clear()
    assert compile_plan(plan, cache, [leaves[0]], walk_only=True).tasks == ()  # a cached target
    assert cache.probed == [leaves[0]]


def test_a_known_node_is_not_asked_about(tmp_path) -> None:
    cache = ProbedCache(tmp_path)
    plan = toy_plan(n=4)
    final = plan.outputs["final"]
    compiled = compile_plan(plan, cache, [final], known={final}, walk_only=True)
    assert compiled.tasks == () and cache.probed == []
