"""The metric registry and ``score``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from engine.errors import UserError
from engine.metrics import (
    METRIC_NAMES,
    METRICS,
    Metric,
    MetricRegistry,
    default_metric,
    greater_is_better,
    per_class_f1,
    score,
)

Y = np.array(["no", "no", "yes", "no", "yes", "yes", "no", "no"])
P = np.array(["no", "yes", "yes", "no", "no", "yes", "no", "no"])
S = np.array([0.1, 0.6, 0.9, 0.2, 0.4, 0.8, 0.3, 0.05])  # P(yes)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("accuracy", skm.accuracy_score(Y, P), id="accuracy"),
        pytest.param("f1", skm.f1_score(Y, P, pos_label="yes"), id="f1-string-labels"),
        pytest.param("precision", skm.precision_score(Y, P, pos_label="yes"), id="precision"),
        pytest.param("recall", skm.recall_score(Y, P, pos_label="yes"), id="recall"),
        pytest.param("balanced_accuracy", skm.balanced_accuracy_score(Y, P), id="balanced"),
        pytest.param("roc_auc", skm.roc_auc_score(Y == "yes", S), id="roc_auc"),
        pytest.param("pr_auc", skm.average_precision_score(Y == "yes", S), id="pr_auc"),
        pytest.param(
            "log_loss", skm.log_loss(Y, np.c_[1 - S, S], labels=["no", "yes"]), id="log_loss"
        ),
    ],
)
def test_binary_metrics(name, expected):
    got = score("classification", Y, P, S, labels=("no", "yes"))
    assert got[name] == pytest.approx(expected, abs=1e-12)
    # the full (n, 2) probability matrix gives the same numbers
    assert score("classification", Y, P, np.c_[1 - S, S], labels=("no", "yes"))[name] == got[name]


def test_multiclass_metrics_are_macro():
    y = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    p = np.array([0, 2, 2, 2, 1, 0, 1, 1])
    proba = np.eye(3)[p] * 0.7 + 0.1
    got = score("classification", y, p, proba, labels=(0, 1, 2))
    assert got["f1"] == pytest.approx(skm.f1_score(y, p, average="macro"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert set(got) == set(METRIC_NAMES["classification"])


def test_regression_metrics():
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])
    got = score("regression", y, p)
    assert got == pytest.approx(
        {
            "rmse": math.sqrt(np.mean((y - p) ** 2)),
            "mae": np.mean(np.abs(y - p)),
            "r2": skm.r2_score(y, p),
        }
    )


def test_probability_metrics_skipped_without_scores():
    got = score("classification", Y, P, None, labels=("no", "yes"))
    assert "roc_auc" not in got and "log_loss" not in got and "f1" in got


def test_undefined_metric_is_nan():
    y = np.array([1, 1, 1])
    got = score("classification", y, y, np.array([0.9, 0.8, 0.7]), labels=(0, 1))
    assert math.isnan(got["roc_auc"])


@pytest.mark.parametrize(
    ("name", "up"),
    [
        pytest.param("f1", True, id="f1"),
        pytest.param("log_loss", False, id="log_loss"),
        pytest.param("rmse", False, id="rmse"),
        pytest.param("r2", True, id="r2"),
    ],
)
def test_direction(name, up):
    assert greater_is_better(name) is up


def test_defaults_and_unknown_metric():
    assert default_metric("classification") == "f1" and default_metric("regression") == "rmse"
    with pytest.raises(UserError) as err:
        greater_is_better("f2")
    assert err.value.key_path == "select.metric" and "f1" in str(err.value)


def test_registry_is_an_object_filled_explicitly():
    reg = MetricRegistry()
    reg.register(
        Metric(
            "max_err",
            lambda y, p, s, labels: float(np.max(np.abs(y - p))),
            False,
            False,
            "regression",
        )
    )
    assert score("regression", np.array([1.0, 2.0]), np.array([1.0, 5.0]), registry=reg) == {
        "max_err": 3.0
    }
    reg.register(METRICS.get("f1"))  # a fresh registry may reuse built-ins
    with pytest.raises(ValueError, match="already"):
        reg.register(METRICS.get("f1"))
    assert "max_err" not in METRICS


def test_per_class_f1_shows_the_rare_class():
    got = per_class_f1(Y, P, ("no", "yes"))
    assert got == pytest.approx(
        {"no": skm.f1_score(Y, P, pos_label="no"), "yes": skm.f1_score(Y, P, pos_label="yes")}
    )


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", range(6))
def test_the_fast_classification_metrics_equal_scikit_learns(k: int, seed: int) -> None:
    """``score`` computes the classification metrics from one confusion matrix with NumPy;
    each equals scikit-learn's own function, ties in the scores and absent classes included."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    labels = tuple(range(k)) if seed % 2 else tuple(f"c{i}" for i in range(k))
    classes = np.array(labels)
    y = classes[rng.integers(0, k - (seed == 3), n)]  # seed 3: the last class never occurs
    p = classes[rng.integers(0, k, n)]
    proba = rng.random((n, k)).round(1) + 0.01  # rounded: many tied scores
    proba /= proba.sum(axis=1, keepdims=True)
    s = proba[:, -1] if k == 2 else proba
    got = score("classification", y, p, s, labels=labels)
    avg = {"average": "macro", "labels": list(labels)} if k > 2 else {"pos_label": labels[-1]}
    with warnings.catch_warnings():  # an absent class: scikit-learn warns, score does not
        warnings.simplefilter("ignore", UserWarning)
        expected = _sklearn_metrics(y, p, s, proba, labels, avg)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def _sklearn_metrics(y, p, s, proba, labels, avg) -> dict[str, float]:  # type: ignore[no-untyped-def]
    k, classes = len(labels), np.array(labels)
    expected = {
        "accuracy": skm.accuracy_score(y, p),
        "balanced_accuracy": skm.balanced_accuracy_score(y, p),
        "precision": skm.precision_score(y, p, zero_division=0.0, **avg),
        "recall": skm.recall_score(y, p, zero_division=0.0, **avg),
        "f1": skm.f1_score(y, p, zero_division=0.0, **avg),
        "log_loss": skm.log_loss(y, proba, labels=list(labels)),
    }
    if len(set(y)) == k:  # AUCs are undefined for a class that never occurs
        onehot = (y[:, None] == classes[None, :]).astype(int)
        if k == 2:
            expected["roc_auc"] = skm.roc_auc_score(y == labels[-1], s)
            expected["pr_auc"] = skm.average_precision_score(y == labels[-1], s)
        else:
            expected["roc_auc"] = skm.roc_auc_score(
                y, proba, multi_class="ovr", average="macro", labels=list(labels)
            )
            expected["pr_auc"] = skm.average_precision_score(onehot, proba, average="macro")
    return expected
