"""Every estimator class Sous ships passes scikit-learn's own conformance suite.

``parametrize_with_checks`` runs each of scikit-learn's estimator checks as one test, so a
regression of the contract (a missing ``NotFittedError``, an unchecked feature count, NaN
accepted at fit...) fails here with scikit-learn's own message. The estimators are made
small (one narrow layer, a few epochs, a large step) so the suite stays quick; the checks
still demand that they learn (e.g. >83% accuracy on blobs, class weights honoured).

No check is declared as an expected failure: scikit-learn's own MLP has none either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import engine
from engine.models.dask_lightgbm import DaskLightGBMClassifier, DaskLightGBMRegressor
from engine.models.dask_xgboost import DaskXGBClassifier, DaskXGBRegressor
from engine.models.incremental import IncrementalClassifier, IncrementalRegressor
from engine.models.lightning import TabularMLPClassifier, TabularMLPRegressor

FAST = {"hidden": (8,), "max_epochs": 5, "lr": 0.05, "batch_size": 32}
ESTIMATORS = [
    TabularMLPClassifier(**FAST),
    TabularMLPRegressor(**FAST),
    # issue 16: without a Dask client these train in-process (the cluster path is tested in
    # tests/integration/test_scale_training.py)
    DaskXGBClassifier(n_estimators=20),
    DaskXGBRegressor(n_estimators=20),
    DaskLightGBMClassifier(n_estimators=20),
    DaskLightGBMRegressor(n_estimators=20),
    IncrementalClassifier(),
    IncrementalRegressor(),
]

# the scikit-learn base classes whose subclasses are estimators
SKLEARN_BASES = {
    "BaseEstimator",
    "ClassifierMixin",
    "RegressorMixin",
    "TransformerMixin",
    "ClusterMixin",
    "OutlierMixin",
}


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    """Checks that cannot apply to ``estimator``, with the reason. Keep it empty."""
    return {}


@pytest.mark.slow
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def _is_estimator(name: str, local: dict[str, set[str]], seen: frozenset[str]) -> bool:
    bases = local.get(name, set())
    return bool(bases & SKLEARN_BASES) or any(
        _is_estimator(b, local, seen | {name}) for b in bases if b in local and b not in seen
    )


def _estimator_classes_in_engine() -> set[str]:
    """Names of public classes under ``engine/`` deriving (directly or through a class of
    the same file) from a scikit-learn base class."""
    found: set[str] = set()
    for path in Path(engine.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        local: dict[str, set[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                local[node.name] = {
                    b.id if isinstance(b, ast.Name) else b.attr
                    for b in node.bases
                    if isinstance(b, ast.Name | ast.Attribute)
                }
        found |= {
            n for n in local if not n.startswith("_") and _is_estimator(n, local, frozenset())
        }
    return found


def test_every_estimator_class_of_the_engine_is_checked():
    checked = {type(e).__name__ for e in ESTIMATORS}
    assert _estimator_classes_in_engine() == checked, (
        "a new estimator class in engine/ must join ESTIMATORS in this file"
    )


@pytest.mark.slow
def test_class_weight_is_keyed_by_label_as_in_sklearn():
    import numpy as np

    x = np.random.default_rng(0).normal(size=(60, 3))
    y = np.array(["a", "b", "c"] * 20)
    heavy = TabularMLPClassifier(**FAST, class_weight={"a": 1000.0, "b": 1e-4, "c": 1e-4})
    assert (heavy.fit(x, y).predict(x) == "a").mean() > 0.9
    with pytest.raises(ValueError, match="not in class_weight"):
        TabularMLPClassifier(**FAST, class_weight={"z": 2.0}).fit(x, y)
