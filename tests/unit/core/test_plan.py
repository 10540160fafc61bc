from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toy_plans import T, toy_plan

from engine.errors import RunError
from engine.plan import PlanBuilder, Ref, canonical, token
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
    k1 = b.add("source", f"{T}:source", {"n": 3})
    k2 = b.add("source", f"{T}:source", {"n": 3})
    assert k1 == k2 and len(b.nodes) == 1


def test_signature_is_checked_when_planning() -> None:
    b = PlanBuilder("bad")
    with pytest.raises(RunError) as err:
        b.add("source", f"{T}:source", {"count": 3})
    assert err.value.step == "source"
    assert "does not accept" in str(err.value)


def test_unknown_input_node_is_a_plan_error() -> None:
    b = PlanBuilder("bad")
    with pytest.raises(RunError):
        b.add("split", f"{T}:split", {"values": Ref("nope-123")})


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
