"""engine.sweeps: spaces, grid/random proposals, validation, optuna ask/tell/prune."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import RecipeError, UserError
from engine.specs import ModelSpec, SweepSpec
from engine.sweeps import (
    ChoiceSpace,
    FloatSpace,
    IntSpace,
    OptunaSearch,
    grid_values,
    parse_search,
    propose,
    search_problems,
)


def model(
    search: Mapping[str, Any], params: Mapping[str, Any] | None = None, name: str = "rf"
) -> ModelSpec:
    return ModelSpec(
        name=name, kind="sklearn", target="x.Y", params=params or {"a": 1}, search=search
    )


SPACE = {
    "n_estimators": {"int": [50, 500]},
    "max_depth": {"choice": [None, 5, 10]},
    "lr": {"loguniform": [1e-4, 1e-1]},
    "frac": {"float": [0.1, 0.9]},
}


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "raw, expected",
    [
        pytest.param({"int": [1, 5]}, IntSpace(1, 5), id="int"),
        pytest.param({"int": [1, 100], "log": True}, IntSpace(1, 100, log=True), id="int-log"),
        pytest.param({"float": [0.0, 1.0]}, FloatSpace(0.0, 1.0), id="float"),
        pytest.param(
            {"float": [1e-3, 1.0], "log": True}, FloatSpace(1e-3, 1.0, log=True), id="float-log"
        ),
        pytest.param({"loguniform": [1e-3, 1.0]}, FloatSpace(1e-3, 1.0, log=True), id="loguniform"),
        pytest.param(
            {"float": [0, 1], "step": 0.25}, FloatSpace(0.0, 1.0, step=0.25), id="float-step"
        ),
        pytest.param({"choice": [None, "a", 3]}, ChoiceSpace((None, "a", 3)), id="choice"),
        pytest.param([1, 2], ChoiceSpace((1, 2)), id="bare-list-is-choice"),
    ],
)
def test_spaces_parse(raw: Any, expected: Any) -> None:
    assert parse_search(model({"p": raw})) == {"p": expected}


@pytest.mark.parametrize(
    "raw, key_path",
    [
        pytest.param({"int": [5, 1]}, "models.rf.search.p.int", id="reversed-bounds"),
        pytest.param({"int": [1.5, 3]}, "models.rf.search.p.int", id="int-fraction"),
        pytest.param({"float": [1, 1]}, "models.rf.search.p.float", id="empty-float"),
        pytest.param({"float": [0, "x"]}, "models.rf.search.p.float", id="non-number"),
        pytest.param({"float": [0]}, "models.rf.search.p.float", id="one-bound"),
        pytest.param({"loguniform": [0, 1]}, "models.rf.search.p", id="log-from-zero"),
        pytest.param({"choice": []}, "models.rf.search.p.choice", id="empty-choice"),
        pytest.param({"int": [1, 5], "float": [0, 1]}, "models.rf.search.p", id="two-kinds"),
        pytest.param({"uniform": [0, 1]}, "models.rf.search.p.uniform", id="unknown-kind"),
        pytest.param({"int": [1, 5], "stepp": 1}, "models.rf.search.p.stepp", id="typo-option"),
        pytest.param({"int": [1, 5], "step": 0}, "models.rf.search.p.step", id="zero-step"),
        pytest.param({"int": [1, 5], "step": 1, "num": 3}, "models.rf.search.p", id="step-and-num"),
        pytest.param("int(1, 5)", "models.rf.search.p", id="not-a-mapping"),
    ],
)
def test_bad_spaces_name_their_key_path(raw: Any, key_path: str) -> None:
    m = model({"p": raw})
    with pytest.raises(RecipeError) as err:
        parse_search(m)
    assert key_path in err.value.key_paths
    assert key_path in {p.key_path for p in search_problems(m)}


def test_every_bad_space_is_reported_at_once() -> None:
    m = model({"a": {"int": [5, 1]}, "b": {"choice": []}, "c": {"int": [1, 2]}})
    assert {p.key_path for p in search_problems(m)} == {
        "models.rf.search.a.int",
        "models.rf.search.b.choice",
    }


def test_typo_gets_a_did_you_mean() -> None:
    (problem,) = search_problems(model({"p": {"choise": [1, 2]}}))[:1]
    assert problem.hint is not None and "choice" in problem.hint


# ---------------------------------------------------------------- propose


@pytest.mark.parametrize(
    "sweep, search",
    [
        pytest.param(None, SPACE, id="no-sweep"),
        pytest.param(SweepSpec("random", 5), {}, id="no-search"),
    ],
)
def test_without_a_sweep_or_search_there_is_one_trial_with_the_params(
    sweep: Any, search: Any
) -> None:
    m = model(search, {"n_estimators": 10, "a": 1})
    assert [dict(p) for p in propose(m, sweep, 0)] == [{"n_estimators": 10, "a": 1}]


def test_grid_is_the_cartesian_product_merged_over_params() -> None:
    m = model({"d": {"choice": [1, 2]}, "n": {"int": [10, 30], "step": 10}}, {"a": 1, "d": 0})
    trials = [dict(p) for p in propose(m, SweepSpec("grid"), 0)]
    assert trials == [{"a": 1, "d": d, "n": n} for d in (1, 2) for n in (10, 20, 30)]


@pytest.mark.parametrize(
    "space, values",
    [
        pytest.param(IntSpace(1, 10, num=4), (1, 4, 7, 10), id="int-num"),
        pytest.param(IntSpace(1, 100, log=True, num=3), (1, 10, 100), id="int-log-num"),
        pytest.param(FloatSpace(0.0, 1.0, step=0.25), (0.0, 0.25, 0.5, 0.75, 1.0), id="float-step"),
        pytest.param(
            FloatSpace(1e-3, 1e-1, log=True, num=3), (1e-3, 1e-2, 1e-1), id="float-log-num"
        ),
        pytest.param(ChoiceSpace(("a", None)), ("a", None), id="choice"),
    ],
)
def test_grid_values(space: Any, values: tuple[Any, ...]) -> None:
    got = grid_values("p", space)
    assert len(got) == len(values)
    assert all(
        g == v or (isinstance(v, float) and math.isclose(g, v))
        for g, v in zip(got, values, strict=True)
    )


@pytest.mark.parametrize(
    "raw", [pytest.param({"int": [1, 5]}, id="int"), pytest.param({"float": [0, 1]}, id="float")]
)
def test_grid_needs_step_or_num_for_ranges(raw: Any) -> None:
    with pytest.raises(UserError) as err:
        propose(model({"p": raw}), SweepSpec("grid"), 0)
    assert err.value.key_path == "models.rf.search.p"


def test_validator_flags_ungriddable_ranges_only_for_grid() -> None:
    m = model({"a": {"int": [1, 5]}, "b": {"int": [1, 5], "step": 2}, "c": {"choice": [1]}})
    assert [p.key_path for p in search_problems(m, SweepSpec("grid"))] == ["models.rf.search.a"]
    assert search_problems(m, SweepSpec("random")) == ()
    assert search_problems(m) == ()


def test_random_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    m = model(SPACE)
    a = propose(m, SweepSpec("random", 8), 7)
    assert a == propose(m, SweepSpec("random", 8), 7)
    assert a != propose(m, SweepSpec("random", 8), 8)
    assert len(a) == 8
    assert len({repr(sorted(p.items())) for p in a}) == 8  # distinct trials


def test_random_over_a_small_finite_space_returns_each_point_once() -> None:
    m = model({"d": {"choice": [1, 2, 3]}})
    assert sorted(p["d"] for p in propose(m, SweepSpec("random", 10), 0)) == [1, 2, 3]


@settings(max_examples=40, deadline=None)
@given(
    lo=st.integers(-50, 50),
    width=st.integers(0, 100),
    flo=st.floats(1e-6, 10.0),
    ratio=st.floats(1.01, 1e4),
    seed=st.integers(0, 2**16),
)
def test_random_samples_stay_inside_their_spaces(
    lo: int, width: int, flo: float, ratio: float, seed: int
) -> None:
    m = model({"i": {"int": [lo, lo + width]}, "f": {"loguniform": [flo, flo * ratio]}})
    for p in propose(m, SweepSpec("random", 5), seed):
        assert lo <= p["i"] <= lo + width and isinstance(p["i"], int)
        assert flo <= p["f"] <= flo * ratio * (1 + 1e-9)


@pytest.mark.parametrize(
    "sweep, key_path",
    [
        pytest.param(SweepSpec("grdi"), "sweep.strategy", id="unknown-strategy"),
        pytest.param(SweepSpec("random", 0), "sweep.trials", id="no-trials"),
        pytest.param(SweepSpec("random", 3, timeout_s=0), "sweep.timeout_s", id="no-time"),
    ],
)
def test_bad_sweeps(sweep: SweepSpec, key_path: str) -> None:
    with pytest.raises(UserError) as err:
        propose(model(SPACE), sweep, 0)
    assert err.value.key_path == key_path


def test_unknown_strategy_suggests_the_right_one() -> None:
    with pytest.raises(UserError, match="grid"):
        propose(model(SPACE), SweepSpec("grdi"), 0)


# ---------------------------------------------------------------- optuna


def _bowl(p: Mapping[str, Any]) -> float:
    return (p["x"] - 2.0) ** 2 + (p["n"] - 3) ** 2 + (0.0 if p["c"] == "good" else 5.0)


OPTUNA_SPACE = {
    "x": {"float": [-5, 5]},
    "n": {"int": [0, 10]},
    "c": {"choice": ["bad", "good", [1, 2]]},
}


def test_optuna_ask_tell_finds_the_minimum_within_the_trial_budget() -> None:
    search = OptunaSearch(model(OPTUNA_SPACE), SweepSpec("optuna", 40), 0, greater_is_better=False)
    asked = 0
    while (trial := search.ask()) is not None:
        asked += 1
        assert trial.params["a"] == 1  # merged over model.params
        search.tell(trial.number, _bowl(trial.params))
    assert asked == 40
    best = search.best()
    assert best is not None
    assert _bowl(best.params) < 1.0
    assert best.params["c"] == "good"


def test_optuna_is_asynchronous_and_seeded() -> None:
    def run(seed: int) -> list[Any]:
        s = OptunaSearch(model(OPTUNA_SPACE), SweepSpec("optuna", 6), seed)
        first = [s.ask(), s.ask(), s.ask()]  # three in flight, none told yet
        assert s.in_flight == (0, 1, 2)
        s.tell(1, 0.5)  # finishes out of order
        fourth = s.ask()
        return [dict(t.params) for t in [*first, fourth] if t is not None]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_optuna_maps_non_primitive_choices_back() -> None:
    s = OptunaSearch(model({"h": {"choice": [[64, 32], [16]]}}), SweepSpec("optuna", 5), 0)
    values = set()
    while (t := s.ask()) is not None:
        values.add(t.params["h"])
        s.tell(t.number, 1.0)
    assert values <= {(64, 32), (16,)}


def test_optuna_time_budget_stops_asking() -> None:
    now = [0.0]
    s = OptunaSearch(
        model(OPTUNA_SPACE), SweepSpec("optuna", 100, timeout_s=10), 0, clock=lambda: now[0]
    )
    assert s.ask() is not None
    now[0] = 10.5
    assert not s.budget_left
    assert s.ask() is None


@pytest.mark.parametrize(
    "pruning, expect_prune",
    [pytest.param(True, True, id="on"), pytest.param(False, False, id="off")],
)
def test_optuna_prunes_a_trial_worse_than_the_median(pruning: bool, expect_prune: bool) -> None:
    s = OptunaSearch(model(OPTUNA_SPACE), SweepSpec("optuna", 10, pruning=pruning), 0)
    for _ in range(3):  # good trials: high intermediate scores at every step
        t = s.ask()
        assert t is not None
        for step in range(3):
            assert not s.report(t.number, step, 0.9)
        s.tell(t.number, 0.9)
    bad = s.ask()
    assert bad is not None
    assert s.report(bad.number, 0, 0.1) is expect_prune
    s.tell(bad.number, None, pruned=True)
    assert s.in_flight == ()


def test_optuna_failed_trials_do_not_become_best() -> None:
    s = OptunaSearch(model(OPTUNA_SPACE), SweepSpec("optuna", 3), 0)
    a, b = s.ask(), s.ask()
    assert a is not None and b is not None
    s.tell(a.number, None)
    assert s.best() is None
    s.tell(b.number, 0.3)
    best = s.best()
    assert best is not None and best.number == b.number


def test_optuna_rejects_unknown_trial_numbers() -> None:
    s = OptunaSearch(model(OPTUNA_SPACE), SweepSpec("optuna", 3), 0)
    with pytest.raises(ValueError, match="not in flight"):
        s.tell(99, 1.0)


def test_propose_points_optuna_to_optuna_search() -> None:
    with pytest.raises(ValueError, match="OptunaSearch"):
        propose(model(SPACE), SweepSpec("optuna", 3), 0)
