from __future__ import annotations

import pytest
import toy_steps
from hypothesis import given
from hypothesis import strategies as st
from toy_plans import toy_plan

from engine.errors import RunError
from engine.plan import Plan, PlanBuilder, Ref, canonical, resolve_func, step_path, token
from engine.specs import SplitSpec, frozen_map


def test_keys_are_readable_and_stable() -> None:
    a, b = toy_plan(), toy_plan()
    assert list(a.nodes) == list(b.nodes)
    assert all(k.startswith(n.step.replace(":", ".") + "-") for k, n in a.nodes.items())


def test_changing_a_param_changes_that_node_and_downstream_only() -> None:
    base, changed = toy_plan(extra=0), toy_plan(extra=1)
    same = set(base.nodes) & set(changed.nodes)
    assert {base.nodes[k].step for k in same} == {"source", "split", "add"}
    assert base.outputs["final"] != changed.outputs["final"]


def test_upstream_change_propagates_to_every_descendant() -> None:
    base, changed = toy_plan(n=10), toy_plan(n=11)
    assert not set(base.nodes) & set(changed.nodes)


def test_identical_work_gets_one_node() -> None:
    b = PlanBuilder("dup")
    k1 = b.add("source", toy_steps.source, {"n": 3})
    k2 = b.add("source", toy_steps.source, {"n": 3})
    assert k1 == k2 and len(b.nodes) == 1


def test_a_step_given_by_object_or_by_path_is_the_same_node() -> None:
    """Steps are referenced by object; the path is derived in one place, so the key of a
    known node is the same whichever form names its function."""
    by_object, by_path = PlanBuilder("o"), PlanBuilder("p")
    k1 = by_object.add("source", toy_steps.source, {"n": 3})
    k2 = by_path.add("source", "toy_steps:source", {"n": 3})
    assert k1 == k2
    assert by_object.nodes[k1].func == by_path.nodes[k2].func == "toy_steps:source"
    assert step_path(toy_steps.source) == "toy_steps:source"
    assert resolve_func(step_path(Holder.step)) is Holder.step  # a qualname with a dot


def test_the_plan_steps_keep_their_keys_whether_named_by_object_or_path() -> None:
    """A node of the real plan (select) keyed from the function and from its path."""
    from engine.steps import flow

    params = {
        "trials": (),
        "metric": "f1",
        "greater_is_better": True,
        "tiebreak": None,
        "tiebreak_greater_is_better": False,
    }
    a, b = PlanBuilder("a"), PlanBuilder("b")
    assert a.add("select", flow.select, params) == b.add(
        "select", "engine.steps.flow:select", params
    )
    assert a.nodes[next(iter(a.nodes))].func == "engine.steps.flow:select"


def test_a_node_runs_the_function_it_was_given_even_one_defined_here(tmp_path) -> None:
    """A function that no import path reaches (defined in a test) runs in process and, pickled
    by value, on a Dask worker; an importable one pickles by its path only."""
    import pickle

    from engine.execution.compile import compile_plan
    from engine.execution.executors import DaskExecutor, SyncExecutor
    from engine.specs import ClusterSpec
    from engine.store.cache import ArtifactCache

    def triple(n: int) -> int:
        return 3 * n

    b = PlanBuilder("local")
    key = b.add("triple", triple, {"n": 5})
    assert b.nodes[key].func.endswith("<locals>.triple")
    plan = Plan("local", dict(b.nodes), {"out": key})
    for name, executor in (("s", SyncExecutor()), ("d", DaskExecutor(ClusterSpec(workers=1)))):
        cache = ArtifactCache(tmp_path / name)
        with executor as ex:
            values = ex.run(compile_plan(plan, cache, [key]), str(cache.root), lambda t: None)
        assert values[key] == 15
    importable = PlanBuilder("i")
    node = importable.nodes[importable.add("source", toy_steps.source, {"n": 2})]
    assert len(pickle.dumps(node)) < 2000  # by reference: no code in it
    assert pickle.loads(pickle.dumps(node)).callable() is toy_steps.source


class Holder:
    @staticmethod
    def step(n: int) -> int:
        return n


def test_signature_is_checked_when_planning() -> None:
    b = PlanBuilder("bad")
    with pytest.raises(RunError) as err:
        b.add("source", toy_steps.source, {"count": 3})
    assert err.value.step == "source"
    assert "does not accept" in str(err.value)


def test_unknown_input_node_is_a_plan_error() -> None:
    b = PlanBuilder("bad")
    with pytest.raises(RunError):
        b.add("split", toy_steps.split, {"values": Ref("nope-123")})


def test_upstream_walk_is_topological() -> None:
    plan = toy_plan()
    order = plan.upstream([plan.outputs["final"]])
    assert [plan.nodes[k].step for k in order] == ["source", "split", "add", "final"]


def test_canonical_form_of_specs_and_frozen_maps() -> None:
    spec = SplitSpec(kind="random", test_size=0.3)
    assert canonical(spec)["kind"] == "random"
    assert canonical(frozen_map({"b": 1, "a": [1, 2]})) == {"a": [1, 2], "b": 1}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)


@given(json_values, json_values)
def test_token_changes_iff_inputs_change(a: object, b: object) -> None:
    assert (token(a) == token(b)) == (canonical(a) == canonical(b))


def test_dask_token_of_a_node_is_its_key() -> None:
    """Two jobs submitting the same node must submit the same task spec (Dask merges them)."""
    from dask.base import tokenize

    a, b = toy_plan(), toy_plan()
    for key in a.nodes:
        assert tokenize(a.nodes[key]) == tokenize(b.nodes[key])
    assert len({tokenize(n) for n in a.nodes.values()}) == len(a.nodes)
