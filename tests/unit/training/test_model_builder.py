"""``build_estimator``: preprocessing, imbalance, seeds, params and their errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from engine.errors import UserError
from engine.models import build_estimator, default_resources
from engine.specs import ImbalanceSpec, ModelSpec, PreprocessSpec

LOGREG = ModelSpec(name="lr", kind="sklearn", target="sklearn.linear_model.LogisticRegression")
NUM, CAT = ["f0", "f1", "f2", "f3", "f4"], ["color"]


def _build(model=LOGREG, params=None, *, task="classification", pre=None, imb="none", seed=7):
    return build_estimator(
        model,
        params or {},
        task=task,
        preprocess=pre or PreprocessSpec(),
        imbalance=ImbalanceSpec(imb),
        numeric=NUM,
        categorical=CAT,
        seed=seed,
    )


@pytest.mark.parametrize(
    ("pre", "imb", "steps", "pipeline_module"),
    [
        pytest.param(PreprocessSpec(), "none", ["preprocess", "model"], "sklearn", id="plain"),
        pytest.param(
            PreprocessSpec(pca=2, select_k=1),
            "none",
            ["preprocess", "pca", "select", "model"],
            "sklearn",
            id="pca-select",
        ),
        pytest.param(
            PreprocessSpec(), "class_weight", ["preprocess", "model"], "sklearn", id="class-weight"
        ),
        pytest.param(
            PreprocessSpec(),
            "oversample",
            ["preprocess", "resample", "model"],
            "imblearn",
            id="oversample",
        ),
        pytest.param(
            PreprocessSpec(),
            "undersample",
            ["preprocess", "resample", "model"],
            "imblearn",
            id="undersample",
        ),
        pytest.param(
            PreprocessSpec(pca=0.9),
            "smote",
            ["preprocess", "pca", "resample", "model"],
            "imblearn",
            id="smote",
        ),
    ],
)
def test_pipeline_shape(frame, pre, imb, steps, pipeline_module):
    est = _build(pre=pre, imb=imb)
    assert [name for name, _ in est.steps] == steps
    assert type(est).__module__.split(".")[0] == pipeline_module
    est.fit(frame[NUM + CAT], frame["y"])
    assert est.predict(frame[NUM + CAT]).shape == (len(frame),)


@pytest.mark.parametrize(
    ("pre", "transformers"),
    [
        pytest.param(
            PreprocessSpec(),
            {
                "num": ["impute", "scale"],
                "cat": ["as_object", "impute", "encode"],
                "dt": ["expand", "impute", "scale"],  # picks datetime columns when fitted
            },
            id="defaults",
        ),
        pytest.param(
            PreprocessSpec(
                numeric={"impute": "none", "scale": "none"},
                categorical={"impute": None, "encode": "ordinal"},
            ),
            {"num": "passthrough", "cat": ["as_object", "encode"], "dt": ["expand"]},
            id="minimal",
        ),
        pytest.param(
            PreprocessSpec(numeric={"scale": "robust", "impute": "constant", "fill_value": -1}),
            {
                "num": ["impute", "scale"],
                "cat": ["as_object", "impute", "encode"],
                "dt": ["expand", "impute", "scale"],
            },
            id="robust-constant",
        ),
    ],
)
def test_column_transformer(pre, transformers):
    ct = _build(pre=pre).named_steps["preprocess"]
    got = {
        name: (t if t == "passthrough" else [s for s, _ in t.steps])
        for name, t, _ in ct.transformers
    }
    assert got == transformers


@pytest.mark.parametrize(
    "dtype",
    [
        pytest.param("string", id="nullable-string"),
        pytest.param("str", id="str"),
        pytest.param(object, id="object"),
    ],
)
@pytest.mark.parametrize(
    "encode", [pytest.param("onehot", id="onehot"), pytest.param("ordinal", id="ordinal")]
)
def test_preprocessing_handles_missing_and_unseen_values(frame, dtype, encode):
    train = frame[NUM + CAT].copy()
    train["color"] = train["color"].astype(dtype)
    train.loc[train.index[:5], "color"] = None
    est = _build(pre=PreprocessSpec(categorical={"encode": encode})).fit(train, frame["y"])
    odd = frame[NUM + CAT].head(3).copy()
    odd.loc[odd.index[0], "f0"] = np.nan
    odd["color"] = pd.array(["green", None, "red"], dtype=dtype)
    assert est.predict(odd).shape == (3,)


def test_seed_fills_random_state_unless_set():
    assert _build(seed=7).named_steps["model"].random_state == 7
    model = ModelSpec(
        name="lr", kind="sklearn", target=LOGREG.target, params={"random_state": 1, "C": 2.0}
    )
    est = _build(model, {"C": 0.1}).named_steps["model"]
    assert (est.random_state, est.C) == (1, 0.1), "trial params override recipe params"


def test_class_weight_uses_the_estimator_parameter():
    assert _build(imb="class_weight").named_steps["model"].class_weight == "balanced"
    mine = _build(params={"class_weight": {0: 1, 1: 3}}, imb="class_weight")
    assert mine.named_steps["model"].class_weight == {0: 1, 1: 3}


def test_class_weight_falls_back_to_oversampling():
    gb = ModelSpec(name="gb", kind="sklearn", target="sklearn.ensemble.GradientBoostingClassifier")
    est = _build(gb, imb="class_weight")
    assert type(est.named_steps["resample"]).__name__ == "RandomOverSampler"


def test_model_level_imbalance_wins():
    model = ModelSpec(
        name="lr", kind="sklearn", target=LOGREG.target, imbalance=ImbalanceSpec("undersample")
    )
    est = _build(model, imb="class_weight")
    assert type(est.named_steps["resample"]).__name__ == "RandomUnderSampler"
    assert est.named_steps["model"].class_weight is None


def test_resampling_happens_only_in_fit(frame_factory):
    frame = frame_factory(400, rare=0.1)
    dummy = ModelSpec(
        name="d",
        kind="sklearn",
        target="sklearn.dummy.DummyClassifier",
        params={"strategy": "prior"},
    )
    est = _build(dummy, imb="undersample").fit(frame[NUM + CAT], frame["y"])
    assert est.named_steps["model"].class_prior_ == pytest.approx([0.5, 0.5])
    assert len(est.predict_proba(frame[NUM + CAT])) == len(frame)


def test_lightning_kind_picks_mlp_by_task():
    mlp = ModelSpec(
        name="mlp", kind="lightning", target=None, params={"hidden": [8], "max_epochs": 2}
    )
    cls = _build(mlp).named_steps["model"]
    reg = _build(mlp, task="regression").named_steps["model"]
    assert type(cls).__name__ == "TabularMLPClassifier" and cls.seed == 7 and cls.hidden == [8]
    assert type(reg).__name__ == "TabularMLPRegressor"


def test_lightning_module_import_does_not_import_torch():
    code = "import sys, engine.models.lightning; print('torch' in sys.modules, 'lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("kwargs", "key_path"),
    [
        pytest.param(
            {"model": ModelSpec("x", "sklearn", "sklearn.linear_model.Nope")},
            "models.x._target_",
            id="bad-target",
        ),
        pytest.param(
            {"model": ModelSpec("x", "sklearn", "nomodule.Thing")},
            "models.x._target_",
            id="bad-module",
        ),
        pytest.param({"params": {"n_trees": 3}}, "models.lr", id="bad-param"),
        pytest.param({"task": "regression"}, "models.lr._target_", id="wrong-task"),
        pytest.param({"model": ModelSpec("x", "keras", None)}, "models.x", id="unknown-kind"),
        pytest.param(
            {"pre": PreprocessSpec(numeric={"scale": "zscore"})},
            "preprocess.numeric.scale",
            id="bad-scale",
        ),
        pytest.param(
            {"pre": PreprocessSpec(categorical={"encoding": "onehot"})},
            "preprocess.categorical.encoding",
            id="bad-key",
        ),
        pytest.param({"pre": PreprocessSpec(pca=0)}, "preprocess.pca", id="bad-pca"),
        pytest.param({"pre": PreprocessSpec(select_k=-2)}, "preprocess.select_k", id="bad-k"),
        pytest.param({"imb": "magic"}, "imbalance.strategy", id="bad-strategy"),
        pytest.param(
            {
                "imb": "smote",
                "task": "regression",
                "model": ModelSpec("r", "sklearn", "sklearn.linear_model.Ridge"),
            },
            "imbalance.strategy",
            id="imbalance-on-regression",
        ),
    ],
)
def test_bad_input_is_a_user_error(kwargs, key_path):
    with pytest.raises(UserError) as err:
        _build(**kwargs)
    assert err.value.key_path == key_path


def test_model_level_imbalance_error_names_the_model():
    model = ModelSpec("lr", "sklearn", LOGREG.target, imbalance=ImbalanceSpec("smot"))
    with pytest.raises(UserError) as err:
        _build(model)
    assert err.value.key_path == "models.lr.imbalance.strategy"


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        pytest.param("lightning", {"accelerator": "gpu"}, {"GPU": 1}, id="lightning-gpu"),
        pytest.param("lightning", {}, {}, id="lightning-cpu"),
        pytest.param("sklearn", {"accelerator": "gpu"}, {}, id="sklearn"),
    ],
)
def test_default_resources(kind, params, expected):
    assert dict(default_resources(kind, params)) == expected
