"""Predict labels and probabilities with one pass of the model where that is exact."""

from __future__ import annotations

from typing import Any

import numpy as np


def final_step(estimator: Any) -> Any:
    """The estimator at the end of (nested) scikit-learn / imbalanced-learn pipelines."""
    while hasattr(estimator, "steps"):
        estimator = estimator.steps[-1][1]
    return estimator


def argmax_consistent(estimator: Any) -> bool:
    """True when ``predict`` is, in scikit-learn's own code, ``classes_[argmax(predict_proba)]``:
    then one ``predict_proba`` call gives both label and probabilities. Only estimators
    known to be exact are listed; anything else pays for both calls."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    exact = (ForestClassifier, DecisionTreeClassifier, HistGradientBoostingClassifier)
    return isinstance(final_step(estimator), exact) and hasattr(estimator, "classes_")


def predict_with_proba(estimator: Any, x: Any, task: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (or values) and, for classifiers that have them, class probabilities."""
    if task != "classification" or not hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict(x)), None
    proba = np.asarray(_fast(estimator).predict_proba(x), dtype=float)
    if argmax_consistent(estimator):
        return np.asarray(estimator.classes_).take(np.argmax(proba, axis=1)), proba
    return np.asarray(estimator.predict(x)), proba


def _fast(estimator: Any) -> Any:
    """A random / extra-trees forest (alone or ending a scikit-learn Pipeline) whose
    ``predict_proba`` skips the per-tree joblib dispatch: the same float64 sums in the same
    order, so bit-identical (engine/models/forest.py); anything else as it is."""
    if not type(estimator).__module__.startswith("sklearn."):  # imblearn, wrappers: as is
        return estimator
    from engine.models.forest import accelerate

    return accelerate(estimator)
