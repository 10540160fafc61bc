"""ACCEPTANCE: Sous's per-fold CV metrics equal scikit-learn's ``cross_validate`` with the
same splitter and seed, to 1e-9, for several estimators and splitters."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import get_scorer
from sklearn.model_selection import cross_validate

from engine.models import build_estimator
from engine.models.preprocess import split_columns
from engine.specs import CVSpec, ImbalanceSpec, ModelSpec, PreprocessSpec
from engine.splits import make_cv_splitter
from engine.steps.train import fit_score, folds

# Sous metric -> sklearn scorer name (sign flipped for the neg_ scorers)
CLS_SCORERS = {
    "accuracy": "accuracy",
    "f1": "f1",
    "roc_auc": "roc_auc",
    "pr_auc": "average_precision",
    "balanced_accuracy": "balanced_accuracy",
    "precision": "precision",
    "recall": "recall",
    "log_loss": "neg_log_loss",
}
MULTI_SCORERS = {
    "accuracy": "accuracy",
    "f1": "f1_macro",
    "roc_auc": "roc_auc_ovr",
    "log_loss": "neg_log_loss",
    "recall": "recall_macro",
}
REG_SCORERS = {"rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "r2": "r2"}
RAW = PreprocessSpec(numeric={"impute": "none", "scale": "none"})

CASES = [
    pytest.param(
        "classification",
        "sklearn.linear_model.LogisticRegression",
        {"C": 0.5},
        "stratified_kfold",
        PreprocessSpec(),
        "none",
        id="logreg-stratified",
    ),
    pytest.param(
        "classification",
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 15, "max_depth": 4},
        "kfold",
        PreprocessSpec(),
        "none",
        id="rf-kfold",
    ),
    pytest.param(
        "classification",
        "sklearn.tree.DecisionTreeClassifier",
        {"max_depth": 3},
        "group_kfold",
        PreprocessSpec(categorical={"encode": "ordinal"}),
        "none",
        id="tree-groupkfold-ordinal",
    ),
    pytest.param(
        "classification",
        "sklearn.linear_model.LogisticRegression",
        {},
        "stratified_kfold",
        PreprocessSpec(pca=3),
        "smote",
        id="logreg-pca-smote",
    ),
    pytest.param(
        "classification",
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 10},
        "stratified_kfold",
        PreprocessSpec(select_k=3),
        "class_weight",
        id="rf-select-classweight",
    ),
    pytest.param(
        "regression",
        "sklearn.linear_model.Ridge",
        {"alpha": 2.0},
        "kfold",
        PreprocessSpec(numeric={"scale": "minmax"}),
        "none",
        id="ridge-kfold",
    ),
    pytest.param(
        "regression",
        "sklearn.ensemble.RandomForestRegressor",
        {"n_estimators": 10},
        "time_series",
        PreprocessSpec(),
        "none",
        id="rf-timeseries",
    ),
]


def _scorers(task, n_classes):
    if task == "regression":
        return REG_SCORERS
    return CLS_SCORERS if n_classes == 2 else MULTI_SCORERS


@pytest.mark.parametrize(("task", "target", "params", "cv_kind", "pre", "imb"), CASES)
def test_fold_metrics_equal_cross_validate(frame_factory, task, target, params, cv_kind, pre, imb):
    frame = frame_factory(240, seed=5)
    y_col = "y" if task == "classification" else "amount"
    features = ["f0", "f1", "f2", "f3", "f4", "color"]
    idx = np.arange(20, 240)  # CV over a subset, as over a train split
    cv = CVSpec(kind=cv_kind, folds=4, group="store")
    model = ModelSpec(name="m", kind="sklearn", target=target, params=params)
    seed = 11
    ours = [
        fit_score(
            frame,
            tr,
            va,
            target=y_col,
            task=task,
            model=model,
            params={},
            preprocess=pre,
            imbalance=ImbalanceSpec(imb),
            features=features,
            seed=seed,
        )
        for tr, va in folds(frame, idx, target=y_col, task=task, spec=cv, seed=seed)
    ]
    sub = frame.iloc[idx]
    numeric, categorical = split_columns(frame, features)
    pipeline = build_estimator(
        model,
        {},
        task=task,
        preprocess=pre,
        imbalance=ImbalanceSpec(imb),
        numeric=numeric,
        categorical=categorical,
        seed=seed,
    )
    scorers = _scorers(task, 2)
    theirs = cross_validate(
        pipeline,
        sub[features],
        sub[y_col].to_numpy(),
        groups=sub["store"].to_numpy() if cv_kind == "group_kfold" else None,
        cv=make_cv_splitter(cv, seed),
        scoring={k: get_scorer(v) for k, v in scorers.items()},
    )
    assert len(ours) == 4
    for name, scorer in scorers.items():
        sign = -1.0 if scorer.startswith("neg_") else 1.0
        expected = sign * theirs[f"test_{name}"]
        got = np.array([r.metrics[name] for r in ours])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=name)


@pytest.mark.parametrize(
    ("target", "params"),
    [
        pytest.param("sklearn.linear_model.LogisticRegression", {"max_iter": 2000}, id="logreg"),
        pytest.param("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 10}, id="rf"),
    ],
)
def test_bare_estimator_without_preprocessing_matches(frame_factory, target, params):
    """With preprocessing off, Sous's pipeline scores exactly like the bare estimator."""
    import importlib

    frame = frame_factory(200, classes=3, seed=2)
    features = ["f0", "f1", "f2", "f3", "f4"]
    cv = CVSpec(kind="stratified_kfold", folds=3)
    model = ModelSpec(name="m", kind="sklearn", target=target, params=params)
    idx = np.arange(len(frame))
    ours = [
        fit_score(
            frame,
            tr,
            va,
            target="y",
            task="classification",
            model=model,
            params={},
            preprocess=RAW,
            imbalance=ImbalanceSpec(),
            features=features,
            seed=3,
        )
        for tr, va in folds(frame, idx, target="y", task="classification", spec=cv, seed=3)
    ]
    module, _, cls = target.rpartition(".")
    bare = getattr(importlib.import_module(module), cls)(random_state=3, **params)
    theirs = cross_validate(
        bare,
        frame[features],
        frame["y"],
        cv=make_cv_splitter(cv, 3),
        scoring={k: get_scorer(v) for k, v in MULTI_SCORERS.items()},
    )
    for name, scorer in MULTI_SCORERS.items():
        sign = -1.0 if scorer.startswith("neg_") else 1.0
        got = np.array([r.metrics[name] for r in ours])
        np.testing.assert_allclose(
            got, sign * theirs[f"test_{name}"], rtol=0, atol=1e-9, err_msg=name
        )
