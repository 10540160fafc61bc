"""Lightning MLPs through the training steps: sklearn contract, early stopping, best
checkpoint restored, deterministic, picklable, class weights."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from engine.errors import UserError
from engine.specs import ImbalanceSpec, ModelSpec, PreprocessSpec, SplitSpec
from engine.steps.train import evaluate, fit_score, refit, split

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _sous_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "sous"))


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame


def _mlp(**params) -> ModelSpec:
    base = {
        "hidden": [16],
        "max_epochs": 40,
        "lr": 0.01,
        "batch_size": 32,
        "early_stopping": {"patience": 3, "min_delta": 0.005},
    }
    return ModelSpec(name="mlp", kind="lightning", target=None, params={**base, **params})


def _kw(model, task="classification", target="target", imb="none"):
    return dict(
        target=target,
        task=task,
        model=model,
        params={},
        preprocess=PreprocessSpec(),
        imbalance=ImbalanceSpec(imb),
        features=(),
        seed=5,
    )


def test_classifier_through_the_steps(wine):
    h = split(wine, target="target", task="classification", spec=SplitSpec(), seed=5)
    result = fit_score(wine, h.train, h.valid, **_kw(_mlp()))
    assert result.metrics["accuracy"] > 0.85
    assert 1 <= len(result.intermediate) < 40, "early stopping ended training before max_epochs"
    est = refit(wine, np.concatenate([h.train, h.valid]), **_kw(_mlp()))
    ev = evaluate(est, wine, h.test, target="target", task="classification", features=())
    assert ev.metrics["accuracy"] > 0.85 and ev.y_score.shape == (len(h.test), 3)
    assert ev.feature_importance is None
    x = wine.drop(columns="target").iloc[h.test]
    again = cloudpickle.loads(cloudpickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(x), est.predict_proba(x))
    mlp = est.named_steps["model"]
    assert list(mlp.classes_) == [0, 1, 2] and mlp.n_features_in_ == 13


def test_best_checkpoint_is_restored_and_seeding_is_deterministic(wine):
    import torch
    from sklearn.preprocessing import StandardScaler

    from engine.models.lightning import TabularMLPClassifier

    x = StandardScaler().fit_transform(wine.drop(columns="target")).astype(np.float32)
    y = wine["target"].to_numpy()
    params = dict(hidden=(8,), max_epochs=25, lr=0.05, early_stopping={"patience": 4}, seed=3)
    a = TabularMLPClassifier(**params).fit(x, y)
    b = TabularMLPClassifier(**params).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert a.val_losses_ == b.val_losses_
    assert torch.get_num_threads() == 1
    _, va = a._split(np.asarray(y))
    with torch.no_grad():
        logits = a.net_(torch.from_numpy(x[va]))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[va]))
    assert float(loss) == pytest.approx(min(a.val_losses_), abs=1e-5)
    c = TabularMLPClassifier(**{**params, "seed": 4}).fit(x, y)
    assert not np.array_equal(a.predict_proba(x), c.predict_proba(x))


def test_sklearn_contract(wine):
    from engine.models.lightning import TabularMLPClassifier

    est = TabularMLPClassifier(hidden=(4,), max_epochs=2)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "net_")
    x = wine.drop(columns="target").to_numpy()[:60]
    assert est.fit(x, wine["target"].to_numpy()[:60]) is est
    no_val = TabularMLPClassifier(hidden=(4,), max_epochs=3, validation_fraction=0.0)
    no_val.fit(x, wine["target"].to_numpy()[:60])
    assert no_val.val_losses_ == () and len(no_val.train_losses_) == 3
    with pytest.raises(UserError):
        TabularMLPClassifier(early_stopping="soon", max_epochs=1).fit(
            x, wine["target"].to_numpy()[:60]
        )


def test_regressor(wine):
    model = ModelSpec(
        name="mlp",
        kind="lightning",
        target=None,
        params={"hidden": [16], "max_epochs": 30, "lr": 0.01},
    )
    h = split(wine, target="proline", task="regression", spec=SplitSpec(kind="random"), seed=5)
    result = fit_score(wine, h.train, h.valid, **_kw(model, "regression", "proline"))
    assert result.metrics["r2"] > 0.4
    assert len(result.intermediate) == 30, "no early stopping: every epoch ran"


def test_class_weight_reaches_the_loss(wine):
    binary = wine.assign(target=(wine["target"] == 2).astype(int)).iloc[:150]
    est = refit(binary, np.arange(150), **_kw(_mlp(max_epochs=2), imb="class_weight"))
    mlp = est.named_steps["model"]
    assert mlp.class_weight == "balanced"
    y = binary["target"].to_numpy()
    loss = mlp._loss(np.asarray(y))
    expected = len(y) / (2 * np.bincount(y))
    np.testing.assert_allclose(loss.weight.numpy(), expected, rtol=1e-6)
