"""Overrides as Hydra users type them, and messages that lead to the fix: a defaulted
section's keys set without ``+``, every "did you mean" a different valid spelling (the
estimator's own for a model parameter, on the first try), hydra.run.dir refused with why."""

from __future__ import annotations

import pytest

from engine import api
from engine.errors import RecipeError
from engine.recipe.problems import did_you_mean


def _problem(overrides: list[str]):
    with pytest.raises(RecipeError) as exc:
        api.validate("iris", overrides)
    (problem,) = exc.value.problems
    return problem


def test_a_key_of_a_defaulted_section_is_set_without_plus() -> None:
    assert api.validate("iris", ["cv.folds=3"]).cv.folds == 3


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [
        pytest.param("models.rf.n_estimator=5", "did you mean 'n_estimators'?", id="estimator"),
        pytest.param("select.metric=f2", "did you mean 'f1'?", id="short-value"),
        pytest.param("cv.fold=3", "did you mean 'folds'?", id="defaulted-section-key"),
        pytest.param("split.tst_size=0.3", "did you mean 'test_size'?", id="section-key"),
        pytest.param("spilt.test_size=0.3", "did you mean 'split'?", id="section-name"),
    ],
)
def test_the_first_hint_names_the_valid_spelling(override: str, suggestion: str) -> None:
    problem = _problem([override])
    assert (problem.hint or "").startswith(suggestion)
    assert f"+{override}" not in (problem.hint or "")  # never leads into adding the typo


def test_did_you_mean_never_repeats_the_input() -> None:
    assert did_you_mean("f1", ["f1"]) is None
    assert did_you_mean("F1", ["f1", "r2"]) == "did you mean 'f1'?"
    assert "'rf'" not in (did_you_mean("rf", ["rf", "rff"]) or "")


def test_hydra_run_dir_is_refused_with_the_reason() -> None:
    problem = _problem(["hydra.run.dir=/tmp/elsewhere"])
    assert problem.key_path == "hydra.run.dir=/tmp/elsewhere"
    assert "$SOUS_HOME/runs/RUN_ID" in problem.message and "SOUS_HOME" in (problem.hint or "")


def test_problems_of_overrides_come_in_the_order_typed() -> None:
    with pytest.raises(RecipeError) as exc:
        api.validate("iris", ["seed=1.5", "split=rnd", "cv.fold=3"])
    assert [p.key_path for p in exc.value.problems] == ["seed", "split=rnd", "cv.fold=3"]


def test_a_misspelled_target_class_names_the_public_class() -> None:
    problem = _problem(["models.rf._target_=sklearn.ensemble.RandomForestClasifier"])
    assert (problem.hint or "").startswith("did you mean 'sklearn.ensemble.RandomForestClassifier'")


def test_a_wrong_value_names_the_valid_option_and_the_public_class() -> None:
    problem = _problem(["models.rf.criterion=gini2"])
    assert (problem.hint or "").startswith("did you mean 'gini'?")
    assert "help(sklearn.ensemble.RandomForestClassifier)" in (problem.hint or "")
    assert "._forest" not in str(problem)


def test_a_regressor_in_a_classification_recipe_names_the_classifier() -> None:
    problem = _problem(["models.rf._target_=sklearn.ensemble.RandomForestRegressor"])
    assert "did you mean sklearn.ensemble.RandomForestClassifier?" in (problem.hint or "")
    assert "._forest" not in str(problem)
