"""The training steps: fit_score, refit, evaluate, summarize; no leakage from test rows."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pytest

from engine.errors import UserError
from engine.metrics import METRIC_NAMES, score
from engine.specs import CVSpec, ImbalanceSpec, ModelSpec, PreprocessSpec, SplitSpec
from engine.steps.train import (
    FitResult,
    evaluate,
    fit_score,
    folds,
    refit,
    split,
    summarize,
)

FEATURES = ("f0", "f1", "f2", "f3", "f4", "color")
LOGREG = ModelSpec(name="lr", kind="sklearn", target="sklearn.linear_model.LogisticRegression")
RF = ModelSpec(
    name="rf",
    kind="sklearn",
    target="sklearn.ensemble.RandomForestClassifier",
    params={"n_estimators": 20},
)
RIDGE = ModelSpec(name="ridge", kind="sklearn", target="sklearn.linear_model.Ridge")


def _kw(task="classification", model=LOGREG, imb="none", features=FEATURES, **extra):
    kw = dict(
        target="y" if task == "classification" else "amount",
        task=task,
        model=model,
        params={},
        preprocess=PreprocessSpec(),
        imbalance=ImbalanceSpec(imb),
        features=features,
        seed=3,
    )
    kw.update(extra)
    return kw


def _selection_scores(frame, holdout):
    """What selection sees: per-fold CV scores over the train rows plus valid scores."""
    kw = _kw()
    cv = folds(
        frame, holdout.train, target="y", task="classification", spec=CVSpec(folds=3), seed=3
    )
    per_fold = [fit_score(frame, tr, va, **kw).metrics for tr, va in cv]
    on_valid = fit_score(frame, holdout.train, holdout.valid, **kw).metrics
    return per_fold, on_valid


def test_fit_score_result(frame):
    h = split(frame, target="y", task="classification", spec=SplitSpec(), seed=3)
    result = fit_score(frame, h.train, h.valid, **_kw())
    assert isinstance(result, FitResult)
    assert (result.n_train, result.n_valid) == (len(h.train), len(h.valid))
    assert set(result.metrics) == set(METRIC_NAMES["classification"])
    assert result.metrics["accuracy"] > 0.7 and result.fit_s > 0 and result.intermediate == ()


def test_test_rows_never_influence_selection(frame):
    """Scramble every test row (features and target): selection numbers do not move,
    the final test evaluation does."""
    h = split(frame, target="y", task="classification", spec=SplitSpec(), seed=3)
    before = _selection_scores(frame, h)
    scrambled = frame.copy()
    rng = np.random.default_rng(0)
    for col in ("f0", "f1", "f2", "f3", "f4"):
        scrambled.loc[scrambled.index[h.test], col] = rng.normal(50, 30, len(h.test))
    scrambled.loc[scrambled.index[h.test], "y"] = 1 - scrambled["y"].iloc[h.test]
    assert _selection_scores(scrambled, h) == before
    train_valid = np.concatenate([h.train, h.valid])
    est = refit(frame, train_valid, **_kw())
    assert (
        evaluate(est, frame, h.test, target="y", task="classification", features=FEATURES).metrics
        != evaluate(
            est, scrambled, h.test, target="y", task="classification", features=FEATURES
        ).metrics
    )


def test_preprocessing_is_fitted_on_training_rows_only(frame):
    idx = np.arange(0, 100)
    est = refit(frame, idx, **_kw())
    scaler = est.named_steps["preprocess"].named_transformers_["num"].named_steps["scale"]
    np.testing.assert_allclose(scaler.mean_, frame[list(FEATURES[:5])].iloc[idx].mean().to_numpy())


def test_model_level_imbalance_wins_in_fit_score(frame_factory):
    frame = frame_factory(300, rare=0.1)
    tr, va = np.arange(200), np.arange(200, 300)
    per_model = ModelSpec(
        name="lr", kind="sklearn", target=LOGREG.target, imbalance=ImbalanceSpec("undersample")
    )
    a = fit_score(frame, tr, va, **_kw(model=per_model, imb="none")).metrics
    b = fit_score(frame, tr, va, **_kw(imb="undersample")).metrics
    c = fit_score(frame, tr, va, **_kw(imb="none")).metrics
    assert a == b and a != c


def test_refit_evaluate_and_pickle(frame):
    h = split(frame, target="y", task="classification", spec=SplitSpec(), seed=3)
    est = refit(frame, h.train, **_kw(model=RF))
    ev = evaluate(est, frame, h.test, target="y", task="classification", features=FEATURES)
    x = frame[list(FEATURES)].iloc[h.test]
    assert ev.labels == (0, 1) and ev.y_score is not None and ev.y_score.shape == (len(h.test), 2)
    assert ev.metrics == score(
        "classification",
        frame["y"].iloc[h.test].to_numpy(),
        est.predict(x),
        est.predict_proba(x),
        (0, 1),
    )
    assert set(ev.per_class_f1) == {"0", "1"}
    assert ev.feature_importance is not None
    assert set(ev.feature_importance) == {
        "num__f0",
        "num__f1",
        "num__f2",
        "num__f3",
        "num__f4",
        "cat__color_blue",
        "cat__color_red",
    }
    assert sum(ev.feature_importance.values()) == pytest.approx(1.0)
    assert "report.html" in ev.artifacts()
    again = cloudpickle.loads(cloudpickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(x), est.predict_proba(x))


def test_regression_steps(frame):
    h = split(frame, target="amount", task="regression", spec=SplitSpec(kind="random"), seed=3)
    result = fit_score(frame, h.train, h.valid, **_kw(task="regression", model=RIDGE))
    assert set(result.metrics) == {"rmse", "mae", "r2"} and result.metrics["r2"] > 0.8
    est = refit(frame, h.train, **_kw(task="regression", model=RIDGE))
    ev = evaluate(est, frame, h.test, target="amount", task="regression", features=FEATURES)
    assert ev.y_score is None and ev.labels == () and ev.per_class_f1 == {}
    assert ev.feature_importance is not None and "num__f1" in ev.feature_importance


def test_empty_features_means_all_but_target(frame):
    tr, va = np.arange(200), np.arange(200, 300)
    some = fit_score(frame, tr, va, **_kw(model=RF, features=("f0",))).metrics
    all_ = fit_score(frame, tr, va, **_kw(model=RF, features=())).metrics
    assert all_ != some


def test_missing_feature_is_user_error(frame):
    with pytest.raises(UserError) as err:
        fit_score(frame, np.arange(10), np.arange(10, 20), **_kw(features=("f0", "nope")))
    assert err.value.key_path == "data.features"


def test_summarize_mean_and_std():
    rs = [FitResult({"f1": v, "rmse": 2 * v}, 10, 5, 0.1) for v in (0.5, 0.7, 0.9)]
    got = summarize(rs)
    assert got["f1_mean"] == pytest.approx(0.7) and got["f1_std"] == pytest.approx(
        np.std([0.5, 0.7, 0.9])
    )
    assert got["rmse_mean"] == pytest.approx(1.4)
    assert summarize([]) == {}
