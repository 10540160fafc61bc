"""The stream's forest kernel gives scikit-learn's probabilities bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from engine.stream.forest import FastForestProba, accelerate


@pytest.fixture(scope="module")
def wine() -> tuple[pd.DataFrame, pd.Series]:
    x, y = load_wine(return_X_y=True, as_frame=True)
    return x, y


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestClassifier(n_estimators=30, random_state=0),
        lambda: ExtraTreesClassifier(n_estimators=30, random_state=1),
        lambda: make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=20)),
    ],
    ids=["forest", "extra-trees", "pipeline"],
)
@pytest.mark.parametrize("rows", [1, 7, 178])
def test_same_probabilities_as_sklearn(make, rows: int, wine) -> None:
    x, y = wine
    est = make().fit(x, y)
    fast = accelerate(est)
    assert isinstance(fast, FastForestProba)
    batch = x.sample(rows, random_state=rows)
    assert np.array_equal(fast.predict_proba(batch), est.predict_proba(batch))
    assert list(fast.classes_) == list(est.classes_)  # everything else is the estimator's


def test_missing_values_as_sklearn(wine) -> None:
    x, y = wine
    holes = x.mask(np.random.default_rng(0).random(x.shape) < 0.1)
    est = RandomForestClassifier(n_estimators=10, random_state=0).fit(holes, y)
    assert np.array_equal(accelerate(est).predict_proba(holes), est.predict_proba(holes))


def test_checks_stay(wine) -> None:
    x, y = wine
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    with pytest.raises(ValueError):
        accelerate(est).predict_proba(x.iloc[:, :5])  # wrong number of features
    with pytest.raises(ValueError):
        accelerate(est).predict_proba(x.assign(alcohol=np.inf))  # not finite


def test_other_estimators_unchanged(wine) -> None:
    x, y = wine
    for est in (
        GradientBoostingClassifier(n_estimators=5).fit(x, y),
        RandomForestRegressor(n_estimators=5).fit(x, y),
        make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=5)).fit(x, y),
    ):
        assert accelerate(est) is est
