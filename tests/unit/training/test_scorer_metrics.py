"""Any scikit-learn scorer name is a metric: validated against ``get_scorer_names()``,
computed from the fold's own predictions (no second predict), equal to scikit-learn's
scorer called on the same fitted model and rows."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.metrics import get_scorer

from engine import api, metrics
from engine.errors import RecipeError, UserError
from engine.specs import ImbalanceSpec, ModelSpec, PreprocessSpec
from engine.steps.train import evaluate, fit_score

CLASSIFICATION = (
    "matthews_corrcoef",
    "neg_log_loss",
    "roc_auc_ovr",
    "f1_weighted",
    "neg_brier_score",
    "top_k_accuracy",
)
BINARY = ("matthews_corrcoef", "average_precision", "neg_log_loss", "jaccard", "d2_log_loss_score")
REGRESSION = (
    "explained_variance",
    "neg_mean_absolute_percentage_error",
    "neg_max_error",
    "neg_median_absolute_error",
    "d2_absolute_error_score",
)


def _frame(loader) -> tuple[pd.DataFrame, str]:  # type: ignore[no-untyped-def]
    data = loader(as_frame=True)
    frame = data.frame.rename(columns=str)
    return frame, str(data.target.name)


def _kw(task: str, target: str, model: str) -> dict[str, object]:
    return {
        "target": target,
        "task": task,
        "model": ModelSpec("m", "sklearn", model, {"n_estimators": 12}),
        "params": {"max_depth": 4},
        "preprocess": PreprocessSpec(),
        "imbalance": ImbalanceSpec(),
        "features": (),
        "seed": 3,
    }


@pytest.mark.parametrize(
    ("loader", "task", "model", "names"),
    [
        pytest.param(
            load_iris,
            "classification",
            "sklearn.ensemble.RandomForestClassifier",
            CLASSIFICATION,
            id="multiclass",
        ),
        pytest.param(
            load_breast_cancer,
            "classification",
            "sklearn.ensemble.RandomForestClassifier",
            BINARY,
            id="binary",
        ),
        pytest.param(
            load_diabetes,
            "regression",
            "sklearn.ensemble.RandomForestRegressor",
            REGRESSION,
            id="regression",
        ),
    ],
)
def test_a_fold_scores_equal_sklearns_own_scorers_on_the_same_model(
    loader, task, model, names
) -> None:  # type: ignore[no-untyped-def]
    frame, target = _frame(loader)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frame))
    train_idx, valid_idx = order[: len(frame) * 2 // 3], order[len(frame) * 2 // 3 :]
    kw = _kw(task, target, model)
    result = fit_score(frame, train_idx, valid_idx, metrics=names, keep_model=True, **kw)
    cols = [c for c in frame.columns if c != target]
    x_valid, y_valid = frame[cols].iloc[valid_idx], frame[target].to_numpy()[valid_idx]
    for name in names:
        expected = get_scorer(name)(result.model, x_valid, y_valid)
        assert result.metrics[name] == expected, name
    # the built-ins are still all there, and the test set scores the same way
    assert set(metrics.METRIC_NAMES[task]) <= set(result.metrics)
    ev = evaluate(
        result.model, frame, valid_idx, target=target, task=task, features=(), metrics=names
    )
    assert {n: ev.metrics[n] for n in names} == {n: result.metrics[n] for n in names}


def test_scorers_reuse_the_folds_predictions_never_predicting_again() -> None:
    """One prediction pass over the validation rows whatever the number of scorers: the
    preprocessing transforms them once, and ``predict`` is never called (labels come from
    the forest's probabilities)."""
    frame, target = _frame(load_iris)
    idx = np.arange(len(frame))
    kw = _kw("classification", target, "sklearn.ensemble.RandomForestClassifier")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    calls = {"predict": 0, "transform": 0}
    real_transform, real_predict = ColumnTransformer.transform, Pipeline.predict

    def counted_transform(self, x, **k):  # type: ignore[no-untyped-def]
        calls["transform"] += 1
        return real_transform(self, x, **k)

    def counted_predict(self, x, **k):  # type: ignore[no-untyped-def]
        calls["predict"] += 1
        return real_predict(self, x, **k)

    with (
        mock.patch.object(ColumnTransformer, "transform", counted_transform),
        mock.patch.object(Pipeline, "predict", counted_predict),
    ):
        result = fit_score(frame, idx[::2], idx[1::2], metrics=CLASSIFICATION, **kw)
    assert calls == {"predict": 0, "transform": 1}
    assert set(CLASSIFICATION) <= set(result.metrics)


def test_a_model_without_probabilities_skips_probability_scorers() -> None:
    y = np.array([0, 1, 1, 0, 1])
    out = metrics.score(
        "classification", y, y, None, (0, 1), extra=("neg_log_loss", "matthews_corrcoef")
    )
    assert out["matthews_corrcoef"] == 1.0 and "neg_log_loss" not in out


def test_a_scorer_undefined_on_the_fold_is_nan() -> None:
    y = np.array([1, 1, 1])
    out = metrics.score("classification", y, y, np.ones(3), (0, 1), extra=("average_precision",))
    assert math.isnan(out["average_precision"]) or out["average_precision"] == 1.0
    out = metrics.score("classification", y, y, None, (0, 1), extra=("f1",))  # builtin wins
    assert out["f1"] == metrics.score("classification", y, y, None, (0, 1))["f1"]


def test_names_directions_and_tasks() -> None:
    assert metrics.known("matthews_corrcoef", "classification")
    assert metrics.known("neg_mean_absolute_percentage_error", "regression")
    assert not metrics.known("neg_mean_absolute_percentage_error", "classification")
    assert not metrics.known("roc_auc_ovr", "regression")
    assert metrics.known("f1", "classification") and not metrics.known("f1", "regression")
    # scikit-learn's convention: every scorer is greater-is-better, neg_* included
    assert metrics.greater_is_better("neg_log_loss") is True
    assert metrics.greater_is_better("log_loss") is False  # the built-in loss
    with pytest.raises(UserError) as err:
        metrics.resolve("matthews_corrcoeff", "classification")
    assert err.value.key_path == "select.metric"
    assert "did you mean 'matthews_corrcoef'" in str(err.value.hint)
    assert metrics.extra_names(["f1", "neg_log_loss", None, "neg_log_loss", "mcc"]) == (
        "mcc",
        "neg_log_loss",
    )


@pytest.fixture
def home(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")


def test_recipes_accept_scorer_names_everywhere_a_metric_goes(home) -> None:  # type: ignore[no-untyped-def]
    spec = api.validate(
        "iris",
        [
            "select.metric=matthews_corrcoef",
            "+select.tiebreak=neg_log_loss",
            "+select.gates.balanced_accuracy='>= 0.5'",
            "+select.gates.f1_macro='>= 0.5'",
            "+select.metrics=[roc_auc_ovr,neg_brier_score]",
        ],
    )
    sel = spec.select
    assert (sel.metric, sel.tiebreak) == ("matthews_corrcoef", "neg_log_loss")
    assert sel.greater_is_better and sel.tiebreak_greater_is_better
    assert sel.metrics == ("roc_auc_ovr", "neg_brier_score")
    assert metrics.requested(sel) == (
        "f1_macro",
        "matthews_corrcoef",
        "neg_brier_score",
        "neg_log_loss",
        "roc_auc_ovr",
    )
    assert api.validate("diabetes", ["select.metric=neg_mean_absolute_percentage_error"])


@pytest.mark.parametrize(
    ("overrides", "key", "hint"),
    [
        (["select.metric=matthews_corrcoeff"], "select.metric", "'matthews_corrcoef'"),
        (["+select.tiebreak=neg_logloss"], "select.tiebreak", "'neg_log_loss'"),
        (["+select.gates.balanced_acuracy='>= 0.5'"], "select.gates.balanced_acuracy", None),
        (["+select.metrics=[roc_auc_ovr,roc_auc_ovx]"], "select.metrics[1]", "'roc_auc_ovr'"),
        (["select.metric=neg_mean_absolute_percentage_error"], "select.metric", None),
    ],
)
def test_unknown_or_wrong_task_metric_names_exit_2_with_a_hint(home, overrides, key, hint) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RecipeError) as err:
        api.validate("iris", overrides)
    assert err.value.exit_code == 2
    problems = {p.key_path: p for p in err.value.problems}
    assert key in problems, problems
    assert "scikit-learn scorer" in str(problems[key].expected)
    if hint:
        assert hint in str(problems[key].hint)


def test_the_plan_passes_scorers_to_fits_and_test_only_when_named(home) -> None:  # type: ignore[no-untyped-def]
    plain = api.static_plan(api.validate("iris", ["cluster=sync"]))[0].plan
    named = api.static_plan(
        api.validate("iris", ["cluster=sync", "select.metric=matthews_corrcoef"])
    )[0].plan
    for plan, expected in ((plain, None), (named, ("matthews_corrcoef",))):
        fits = [n for n in plan.nodes.values() if n.step.startswith("fit:")]
        assert fits and all(n.params.get("metrics") == expected for n in fits)
        assert plan.node(plan.outputs["test"]).params.get("metrics") == expected


def test_a_run_selects_and_gates_on_a_scorer_name(home) -> None:  # type: ignore[no-untyped-def]
    record = api.run(
        api.validate(
            "iris",
            [
                "cluster=sync",
                "deploy=none",
                "select.metric=matthews_corrcoef",
                "+select.gates.neg_log_loss='>= -5'",
            ],
        )
    )
    winner = record["winner"]
    assert "matthews_corrcoef" in winner["metrics"]
    board = record["leaderboard"]
    assert winner["metrics"]["matthews_corrcoef"] == max(
        r["metrics"]["matthews_corrcoef"] for r in board
    )
    assert "neg_log_loss" in record["test_metrics"]
