"""Packing (engine/execution/packing.py): many alike cheap units of work go to Dask in fewer
tasks; costly ones, few ones and a session without packing go one task each. The policy
alone, then a real 2-worker LocalCluster: values, hand-out, cancellation, later readers and
failures, with the placement events (one per Dask task) counting the tasks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import toy_steps

from engine.errors import RunError
from engine.execution import packing
from engine.execution.compile import Task, compile_plan, linear_chains
from engine.execution.executors import DaskExecutor, SyncExecutor
from engine.execution.runtime import PLACEMENT_TOPIC
from engine.execution.sessions import DaskSession, run_compiled
from engine.plan import Plan, PlanBuilder, Ref
from engine.specs import ClusterSpec
from engine.store.cache import ArtifactCache


def fan_out(n: int, *, step: Any = toy_steps.add, extra: dict[str, Any] | None = None) -> Plan:
    """``n`` independent nodes sharing one label, as a sweep's fits do."""
    b = PlanBuilder("fan")
    keys = [b.add(f"n{i}", step, {"a": i, "b": 1, **(extra or {})}, label="bump") for i in range(n)]
    return Plan("fan", dict(b.nodes), {f"n{i}": k for i, k in enumerate(keys)})


def trials(n: int, folds: int = 3, *, shared: bool = True) -> Plan:
    """``n`` trial-shaped units: ``folds`` fits reading a shared source, and their sum."""
    b = PlanBuilder("trials")
    src = b.add("source", toy_steps.source, {"n": 5}) if shared else None
    outputs = {}
    for t in range(n):
        fits = [
            b.add(
                f"fit{t}.{f}",
                toy_steps.add,
                {"a": Ref(src, (f,)) if src else f, "b": t},
                label=f"fit:m:{f}",
            )
            for f in range(folds)
        ]
        total = b.add(
            f"trial{t}", toy_steps.add, {"a": Ref(fits[0]), "b": Ref(fits[-1])}, label="trial:m"
        )
        outputs[f"trial{t}"] = total
    return Plan("trials", dict(b.nodes), outputs)


def tasks_of(plan: Plan, cache: ArtifactCache) -> tuple[Task, ...]:
    return compile_plan(plan, cache, plan.outputs.values()).tasks


# -- the policy ---------------------------------------------------------------------------


def test_units_are_the_components_of_the_compute_runs(tmp_path) -> None:
    cache, plan = ArtifactCache(tmp_path), trials(3, folds=2)
    loads, units = packing.units(linear_chains(tasks_of(plan, cache)))
    assert loads == []
    # the shared source links every trial: one component
    assert len(units) == 1
    loads, units = packing.units(linear_chains(tasks_of(trials(3, folds=2, shared=False), cache)))
    assert len(units) == 3
    assert [len(u.tasks) for u in units] == [3, 3, 3]
    assert len({u.signature for u in units}) == 1


def test_a_cached_source_is_a_load_and_does_not_link_the_units(tmp_path) -> None:
    cache, plan = ArtifactCache(tmp_path), trials(4)
    source = next(k for k, node in plan.nodes.items() if node.step == "source")
    SyncExecutor().run(compile_plan(plan, cache, [source]), str(tmp_path), lambda t: None)
    loads, units = packing.units(linear_chains(tasks_of(plan, cache)))
    assert [[t.node.step for t in run] for run in loads] == [["source"]]
    assert len(units) == 4
    assert all(u.tasks[-1].node.step.startswith("trial") for u in units)


def test_hold_keeps_back_all_but_one_probe_per_slot_of_a_large_group(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    _, units = packing.units(linear_chains(tasks_of(fan_out(30), cache)))
    now, groups = packing.hold(units, lambda: 2)
    assert now == units[:2]
    assert len(groups) == 1 and groups[0].held == units[2:]
    assert [len(p) for p in groups[0].probes] == [1, 1]


def test_small_groups_go_whole_without_asking_the_cluster(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    _, units = packing.units(linear_chains(tasks_of(fan_out(4), cache)))

    def never() -> int:
        raise AssertionError("slots asked for a group too small to hold")

    assert packing.hold(units, never) == (units, [])
    # large enough only for a 1-slot cluster: on 3 slots it goes whole
    _, units = packing.units(linear_chains(tasks_of(fan_out(12), cache)))
    assert packing.hold(units, lambda: 3) == (units, [])
    assert len(packing.hold(units, lambda: 1)[1]) == 1


def test_units_that_differ_are_grouped_apart(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    b = PlanBuilder("two")
    for i in range(12):
        b.add(f"a{i}", toy_steps.add, {"a": i, "b": 0}, label="a")
        b.add(f"g{i}", toy_steps.add, {"a": i, "b": 1}, label="a", resources={"GPU": 1})
    plan = Plan("two", dict(b.nodes), {k: k for k in b.nodes})
    _, units = packing.units(linear_chains(tasks_of(plan, cache)))
    now, groups = packing.hold(units, lambda: 1)
    assert [u.tasks[0].node.step for u in now] == ["a0", "g0"]  # a probe each
    assert len(groups) == 2
    assert {len(g.held) for g in groups} == {11}
    for g in groups:
        assert len({u.signature for u in g.held}) == 1


def test_deal_packs_cheap_units_evenly_and_costly_ones_alone(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    _, held = packing.units(linear_chains(tasks_of(fan_out(198), cache)))
    packs = packing.deal(held, 0.005, slots=2)
    assert len(packs) % 2 == 0 and len(packs) >= packing.PACKS_PER_SLOT * 2
    assert sorted(u.tasks[0].key for p in packs for u in p) == sorted(u.tasks[0].key for u in held)
    assert max(map(len, packs)) - min(map(len, packs)) <= 1
    assert max(map(len, packs)) * 0.005 <= packing.TARGET_S
    assert packs[0] == held[0 :: len(packs)]  # dealt in turn: a cost rising along the grid spreads
    # a unit slower than half the target goes alone; unknown cost: alone
    assert all(len(p) == 1 for p in packing.deal(held, packing.TARGET_S / 2 + 0.01, slots=2))
    assert all(len(p) == 1 for p in packing.deal(held, None, slots=2))
    # few units: never a pack of one group's all
    assert len(packing.deal(held[:4], 0.001, slots=1)) == 2


def test_a_cancelled_key_drops_its_held_unit_and_its_probe(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    _, units = packing.units(linear_chains(tasks_of(trials(14, shared=False), cache)))
    _, groups = packing.hold(units, lambda: 2)
    group = groups[0]
    inner = group.held[0].tasks[0].key  # a fit of the first held trial
    group.drop([inner])
    assert len(group.held) == 11
    probe_end = units[0].tasks[-1].key
    group.drop([probe_end])
    assert len(group.probes) == 1


# -- on a LocalCluster ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    with DaskExecutor(ClusterSpec(workers=2)) as ex:
        yield ex


@pytest.fixture
def cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the probes take counts as cheap: the tests that need packs get them however
    busy the machine is (the threshold is read in this process, the driver's)."""
    monkeypatch.setattr(packing, "TARGET_S", 3600.0)


def dask_tasks(ex: DaskExecutor) -> int:
    """How many Dask tasks computed nodes so far (each logs one placement event)."""
    return len(ex.client.get_events(PLACEMENT_TOPIC))


def drain(session: DaskSession) -> list[str]:
    done = []
    while session.has_pending():
        done.append(session.next_done().key)
    return done


def test_a_cheap_fan_out_runs_in_packs_with_every_value_right(
    tmp_path, dask_executor, cheap
) -> None:
    cache, plan = ArtifactCache(tmp_path), fan_out(60)
    before = dask_tasks(dask_executor)
    values = dask_executor.run(
        compile_plan(plan, cache, plan.outputs.values()), str(tmp_path), lambda t: None
    )
    assert values == {plan.outputs[f"n{i}"]: i + 1 for i in range(60)}
    ran = dask_tasks(dask_executor) - before
    assert ran == 2 + packing.PACKS_PER_SLOT * 2, ran  # the probes, then four packs per slot
    assert all(cache.has(k) for k in plan.nodes)  # every node persisted as it ran


def test_each_node_is_handed_out_once_and_placed(tmp_path, dask_executor, cheap) -> None:
    cache, plan = ArtifactCache(tmp_path), fan_out(40)
    session = dask_executor.session(str(tmp_path))
    session.submit(tasks_of(plan, cache))
    assert all(session.known(k) for k in plan.nodes)
    done = drain(session)
    assert sorted(done) == sorted(plan.nodes)
    assert session.packed  # some went in packs
    assert set(plan.nodes) <= set(session.placements())  # (a moment earlier counts too)
    session.close()


def test_costly_units_go_one_task_each(tmp_path, dask_executor) -> None:
    cache, plan = (
        ArtifactCache(tmp_path),
        fan_out(12, step=toy_steps.slow_add, extra={"seconds": packing.TARGET_S / 2 + 0.05}),
    )
    before = dask_tasks(dask_executor)
    dask_executor.run(
        compile_plan(plan, cache, plan.outputs.values()), str(tmp_path), lambda t: None
    )
    assert dask_tasks(dask_executor) - before == 12


def test_without_packing_every_node_is_its_own_task(tmp_path) -> None:
    cache, plan = ArtifactCache(tmp_path), fan_out(40)
    with DaskExecutor(ClusterSpec(workers=2, pack=False)) as ex:
        values = ex.run(
            compile_plan(plan, cache, plan.outputs.values()), str(tmp_path), lambda t: None
        )
        assert dask_tasks(ex) == 40
    assert sorted(values.values()) == list(range(1, 41))


def test_trial_shaped_units_give_what_the_sync_executor_gives(
    tmp_path, dask_executor, cheap
) -> None:
    plan = trials(30)
    sync = SyncExecutor().run(
        compile_plan(plan, ArtifactCache(tmp_path / "s"), plan.outputs.values()),
        str(tmp_path / "s"),
        lambda t: None,
    )
    source = next(k for k, node in plan.nodes.items() if node.step == "source")
    cache = ArtifactCache(tmp_path / "d")
    SyncExecutor().run(
        compile_plan(plan, cache, [source]), str(cache.root), lambda t: None
    )  # a load
    before = dask_tasks(dask_executor)
    got = dask_executor.run(
        compile_plan(plan, cache, plan.outputs.values()), str(cache.root), lambda t: None
    )
    assert got == sync
    assert dask_tasks(dask_executor) - before < len(plan.nodes) - 1  # 120 nodes computed


def test_a_later_submission_reads_a_packed_node(tmp_path, dask_executor, cheap) -> None:
    cache, plan = ArtifactCache(tmp_path), fan_out(40)
    session = dask_executor.session(str(tmp_path))
    session.submit(tasks_of(plan, cache))
    drain(session)
    key = next(k for k in plan.nodes if k in session.packed)
    b = PlanBuilder("later")
    b.nodes.update(plan.nodes)
    later = b.add("later", toy_steps.add, {"a": Ref(key), "b": 100})
    session.submit([Task(b.nodes[later], "compute")])
    assert drain(session) == [later]
    assert session.value(later) == session.value(key) + 100
    assert session.values([key, later]) == {
        key: session.value(key),
        later: session.value(key) + 100,
    }
    session.close()


def test_a_later_submission_reading_a_held_node_sends_it_at_once(tmp_path, dask_executor) -> None:
    cache, plan = ArtifactCache(tmp_path), fan_out(40)
    session = dask_executor.session(str(tmp_path))
    session.submit(tasks_of(plan, cache))
    held = next(iter(session.held))
    b = PlanBuilder("later")
    b.nodes.update(plan.nodes)
    later = b.add("later", toy_steps.add, {"a": Ref(held), "b": 100})
    session.submit([Task(b.nodes[later], "compute")])
    assert not session.held and not session.groups
    done = drain(session)
    assert sorted(done) == sorted([*plan.nodes, later])
    assert session.value(later) == session.value(held) + 100
    session.close()


def test_cancelled_nodes_are_never_handed_out(tmp_path, dask_executor, cheap) -> None:
    cache, plan = ArtifactCache(tmp_path), fan_out(60)
    session = dask_executor.session(str(tmp_path))
    session.submit(tasks_of(plan, cache))
    early = list(session.held)[:5]  # still held: never computed
    session.cancel(early)
    assert not any(session.known(k) for k in early)
    done = [session.next_done().key]
    late = [k for k in session.packed if k not in done][:3]  # packed now, maybe running
    assert len(late) == 3
    session.cancel(late)
    done += drain(session)
    assert sorted(done) == sorted(set(plan.nodes) - set(early) - set(late))
    assert not any(cache.has(k) for k in early)
    session.close()


def test_cancelling_every_probe_sends_the_held_units_anyway(tmp_path, dask_executor) -> None:
    cache, plan = ArtifactCache(tmp_path), fan_out(30)
    session = dask_executor.session(str(tmp_path))
    session.submit(tasks_of(plan, cache))
    probes = [k for k in plan.nodes if k in session.futures]
    assert len(probes) == 2
    session.cancel(probes)
    assert not session.groups
    assert sorted(drain(session)) == sorted(set(plan.nodes) - set(probes))
    session.close()


def test_a_failure_inside_a_pack_names_its_node(tmp_path, dask_executor, cheap) -> None:
    b = PlanBuilder("fail")
    for i in range(40):
        step = toy_steps.boom if i == 30 else toy_steps.add
        args = {"value": i} if i == 30 else {"a": i, "b": 1}
        b.add(f"n{i}", step, args, label="bump")
    plan = Plan("fail", dict(b.nodes), {k: k for k in b.nodes})
    cache = ArtifactCache(tmp_path)
    with pytest.raises(RunError, match="step n30 failed: ValueError: boom on 30"):
        run_compiled(
            dask_executor.session(str(tmp_path)),
            compile_plan(plan, cache, plan.outputs.values()),
            lambda t: None,
        )
