from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from engine.models.predict import argmax_consistent, predict_with_proba


@pytest.mark.parametrize(
    ("estimator", "one_pass"),
    [
        pytest.param(RandomForestClassifier(n_estimators=5, random_state=0), True, id="forest"),
        pytest.param(HistGradientBoostingClassifier(max_iter=5), True, id="hgb"),
        pytest.param(
            make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)),
            True,
            id="pipeline",
        ),
        pytest.param(LogisticRegression(max_iter=500), False, id="logreg"),
    ],
)
def test_labels_equal_predict(estimator, one_pass: bool) -> None:
    x, y = load_iris(return_X_y=True)
    est = estimator.fit(x, y)
    labels, proba = predict_with_proba(est, x, "classification")
    assert argmax_consistent(est) is one_pass
    np.testing.assert_array_equal(labels, est.predict(x))
    np.testing.assert_allclose(proba, est.predict_proba(x))


def test_regression_has_no_probabilities() -> None:
    x, y = load_iris(return_X_y=True)
    values, proba = predict_with_proba(Ridge().fit(x, y), x, "regression")
    assert proba is None and values.shape == y.shape


def test_a_forests_fold_probabilities_skip_the_per_tree_dispatch_bit_for_bit() -> None:
    """Fold scoring reads a forest's probabilities without joblib's per-tree dispatch: the
    same numbers, bit for bit (an exact comparison, not allclose)."""
    from unittest import mock

    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.ensemble._forest import ForestClassifier

    x, y = load_iris(return_X_y=True)
    for forest in (RandomForestClassifier, ExtraTreesClassifier):
        est = make_pipeline(StandardScaler(), forest(n_estimators=7, random_state=0)).fit(x, y)
        expected = est.predict_proba(x)
        with mock.patch.object(ForestClassifier, "predict_proba", side_effect=AssertionError):
            labels, proba = predict_with_proba(est, x, "classification")
        assert proba is not None and proba.tobytes() == expected.tobytes()
        np.testing.assert_array_equal(labels, est.predict(x))


def test_an_imbalanced_learn_pipeline_predicts_as_it_is() -> None:
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import make_pipeline as imb_pipeline

    x, y = load_iris(return_X_y=True)
    est = imb_pipeline(
        RandomOverSampler(random_state=0), RandomForestClassifier(n_estimators=5, random_state=0)
    ).fit(x, y)
    _labels, proba = predict_with_proba(est, x, "classification")
    assert proba is not None and proba.tobytes() == est.predict_proba(x).tobytes()
