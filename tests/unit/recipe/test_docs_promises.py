"""What docs/training.md and docs/data.md promise, the validator accepts and the engine
does (issue 15: docs that disagreed with the code)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine import specs
from engine.errors import RecipeError
from engine.models.preprocess import column_transformer
from engine.recipe import to_spec
from engine.splits import holdout

BASE: dict[str, Any] = {
    "name": "t",
    "task": "classification",
    "target": "target",
    "data": {"sources": {"iris": {"kind": "sklearn", "name": "iris"}}},
    "models": {"rf": {"_target_": "sklearn.ensemble.RandomForestClassifier"}},
}
REGRESSION: dict[str, Any] = {
    **BASE,
    "task": "regression",
    "data": {"sources": {"d": {"kind": "sklearn", "name": "diabetes"}}},
    "models": {"ridge": {"_target_": "sklearn.linear_model.Ridge"}},
}


def problems(cfg: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(RecipeError) as info:
        to_spec(cfg)
    return {p.key_path: p for p in info.value.problems}


def test_robust_scaling_is_accepted_and_builds_a_robust_scaler() -> None:
    spec = to_spec({**BASE, "preprocess": {"numeric": {"scale": "robust"}}})
    ct = column_transformer(spec.preprocess, ["a"], [])
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 1000.0]})
    out = ct.fit_transform(frame)
    assert type(ct.named_transformers_["num"].named_steps["scale"]).__name__ == "RobustScaler"
    assert (
        out[2, 0] == 0.0 and out[3, 0] == 0.5
    )  # (x - median) / IQR: robust, not standard maps to 0: robust, not standard, scaling


def test_onehot_min_frequency_and_max_categories_fold_rare_categories() -> None:
    pre = {"categorical": {"encode": "onehot", "min_frequency": 2, "max_categories": 3}}
    spec = to_spec({**BASE, "preprocess": pre})
    assert spec.preprocess.categorical["min_frequency"] == 2
    frame = pd.DataFrame({"c": list("aaabbbccdef")})
    ct = column_transformer(spec.preprocess, [], ["c"])
    names = list(ct.fit(frame).get_feature_names_out())
    assert names == ["cat__c_a", "cat__c_b", "cat__c_infrequent_sklearn"]


@pytest.mark.parametrize(
    ("categorical", "key"),
    [
        pytest.param({"min_frequency": 0}, "min_frequency", id="min-frequency-zero"),
        pytest.param({"min_frequency": "x"}, "min_frequency", id="min-frequency-text"),
        pytest.param({"max_categories": 1}, "max_categories", id="max-categories-one"),
        pytest.param({"encode": "ordinal", "max_categories": 5}, "max_categories", id="not-onehot"),
    ],
)
def test_bad_onehot_limits_are_refused(categorical: dict[str, Any], key: str) -> None:
    found = problems({**BASE, "preprocess": {"categorical": categorical}})
    assert f"preprocess.categorical.{key}" in found


@pytest.mark.parametrize("section", ["split", "cv"])
def test_stratified_is_accepted_for_regression(section: str) -> None:
    kind = "stratified" if section == "split" else "stratified_kfold"
    spec = to_spec({**REGRESSION, section: {"kind": kind}})
    assert getattr(spec, section).kind == kind


def test_stratified_regression_holdout_keeps_target_bins() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": rng.lognormal(size=1000)})
    h = holdout(
        frame, target="y", task="regression", spec=specs.SplitSpec(kind="stratified"), seed=0
    )
    deciles = pd.qcut(frame["y"], 10, labels=False).to_numpy()
    for idx, share in ((h.test, 0.2), (h.valid, 0.1), (h.train, 0.7)):
        counts = np.bincount(deciles[idx], minlength=10)
        assert np.all(np.abs(counts - 100 * share) <= 1), counts


def _asof(tolerance: Any) -> dict[str, Any]:
    sources = {
        "a": {"kind": "sklearn", "name": "iris"},
        "b": {"kind": "sklearn", "name": "iris"},
    }
    integrate = [{"asof": "b", "on": "ts", "tolerance": tolerance}]
    return {**BASE, "data": {"sources": sources, "integrate": integrate}}


@pytest.mark.parametrize("tolerance", ["1d", "12h", "30min", "2w", "1 day", 5, 0.5])
def test_asof_tolerance_good_values_pass(tolerance: Any) -> None:
    to_spec(_asof(tolerance))


@pytest.mark.parametrize("tolerance", ["2x", "soon", -1, True, [1]])
def test_asof_tolerance_is_checked_at_validation(tolerance: Any) -> None:
    problem = problems(_asof(tolerance))["data.integrate[0].tolerance"]
    assert problem.hint and "2d" in problem.hint
