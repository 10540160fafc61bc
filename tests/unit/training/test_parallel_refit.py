"""engine.models.parallel: a forest refit on several cores is the forest refit on one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from engine.models.parallel import available_cores, fit_on_cores


def _pipeline(model: Any) -> Pipeline:
    pipe = Pipeline([("scale", StandardScaler()), ("model", model)])
    seen: list[Any] = []
    fit = pipe.fit

    def spy(x: Any, y: Any) -> Any:
        seen.append(pipe[-1].get_params().get("n_jobs"))
        return fit(x, y)

    pipe.fit = spy  # type: ignore[method-assign]
    pipe.seen = seen  # type: ignore[attr-defined]
    return pipe


@pytest.mark.parametrize(
    "cls",
    [RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor],
)
def test_a_forest_builds_on_the_cores_and_comes_out_the_same(cls: Any) -> None:
    x, y = make_classification(n_samples=400, n_features=8, random_state=0)
    one = fit_on_cores(_pipeline(cls(n_estimators=8, random_state=1)), x, y, cores=1)
    many = _pipeline(cls(n_estimators=8, random_state=1, n_jobs=1))
    fit_on_cores(many, x, y, cores=3)
    assert many.seen == [3]  # type: ignore[attr-defined]
    out = "predict_proba" if hasattr(one, "predict_proba") else "predict"
    assert np.array_equal(getattr(one, out)(x), getattr(many, out)(x))
    assert many[-1].n_jobs == 1, "the served model keeps the recipe's n_jobs"


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(RandomForestClassifier(n_estimators=4, n_jobs=-1), id="recipe-chose-n_jobs"),
        pytest.param(KNeighborsClassifier(n_jobs=1), id="not-a-forest"),
    ],
)
def test_other_models_fit_as_the_recipe_says(model: Any) -> None:
    x, y = make_classification(n_samples=100, n_features=4, random_state=0)
    pipe = _pipeline(model)
    before = model.get_params()["n_jobs"]
    fit_on_cores(pipe, x, y, cores=4)
    assert pipe.seen == [before]  # type: ignore[attr-defined]


def test_available_cores_is_at_least_one() -> None:
    assert available_cores() >= 1
