"""kind: dask_lightgbm as an estimator (in-process), its recipe checks and its keys (the
cluster path is in tests/integration/test_dask_lightgbm.py)."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from engine import api
from engine.errors import RecipeError
from engine.models.build import make_model
from engine.models.dask_lightgbm import DaskLightGBMClassifier, DaskLightGBMRegressor
from engine.provenance import model_dependencies
from engine.serving.packaging import OPTIONAL_PACKAGES
from engine.specs import ModelSpec, frozen_map


def _xy(n: int = 600, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n, 8, n_informative=5, n_classes=classes, n_clusters_per_class=1, random_state=0
    )
    return x, np.array(["a", "b", "c", "d"])[y]


def test_without_a_cluster_it_trains_in_process_and_keeps_string_labels() -> None:
    x, y = _xy()
    model = DaskLightGBMClassifier(n_estimators=30, random_state=0).fit(x, y)
    assert model.trained_on_ == 1  # no Dask client here: LightGBM in this process
    assert list(model.classes_) == ["a", "b", "c"]
    proba = model.predict_proba(x)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (model.predict(x) == y).mean() > 0.9
    importances = model.feature_importances_
    assert importances.shape == (8,) and importances.sum() == pytest.approx(1.0)


def test_binary_probabilities_follow_classes_and_a_fit_is_seeded_and_pickles() -> None:
    x, y = _xy(classes=2)
    a = DaskLightGBMClassifier(n_estimators=20, subsample=0.7, subsample_freq=1, random_state=3)
    b = DaskLightGBMClassifier(n_estimators=20, subsample=0.7, subsample_freq=1, random_state=3)
    a.fit(x, y), b.fit(x, y)
    proba = a.predict_proba(x)
    assert proba.shape == (len(y), 2)
    assert (a.classes_.take(proba.argmax(axis=1)) == a.predict(x)).all()
    np.testing.assert_array_equal(proba, b.predict_proba(x))
    blob = pickle.dumps(a)
    assert b"lightgbm.sklearn" in blob  # the local model: served without Dask
    np.testing.assert_array_equal(pickle.loads(blob).predict_proba(x), proba)


def test_regressor() -> None:
    x, y = make_regression(500, 6, noise=0.1, random_state=0)
    model = DaskLightGBMRegressor(n_estimators=80, random_state=0).fit(x, y)
    assert model.score(x, y) > 0.9


def test_make_model_builds_the_class_for_the_task_with_the_recipe_seed() -> None:
    spec = ModelSpec("lgb", "dask_lightgbm", None, frozen_map({"num_leaves": 7}))
    clf, merged = make_model(spec, {"n_estimators": 9}, task="classification", seed=11)
    assert isinstance(clf, DaskLightGBMClassifier)
    assert (clf.num_leaves, clf.n_estimators, clf.random_state) == (7, 9, 11)
    assert merged == {"num_leaves": 7, "n_estimators": 9}
    reg, _ = make_model(spec, {}, task="regression", seed=0)
    assert isinstance(reg, DaskLightGBMRegressor)


def test_keys_name_lightgbm_and_the_adapter_and_the_bento_installs_it() -> None:
    code, libs = model_dependencies(ModelSpec("lgb", "dask_lightgbm", None))
    assert "lightgbm" in libs and code
    assert OPTIONAL_PACKAGES[b"lightgbm"] == ("lightgbm",)


RECIPE = """\
defaults:
  - /source@data.sources.iris: iris
  - /split: stratified
  - /cluster: sync
  - /deploy: none
  - _self_
name: lgbcheck
task: classification
target: target
models:
  lgb:
    kind: dask_lightgbm
    n_estimators: 20
"""


@pytest.fixture
def recipe(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    path = tmp_path / "lgbcheck.yaml"
    path.write_text(RECIPE)
    return path


@pytest.mark.parametrize(
    ("override", "where", "says"),
    [
        ("+models.lgb.early_stopping_rounds=5", "models.lgb.early_stopping_rounds", "early"),
        ("+models.lgb.num_leafs=5", "models.lgb.num_leafs", "num_leaves"),
        ("+models.lgb.search={max_dept: {choice: [3]}}", "models.lgb.search", "max_depth"),
    ],
)
def test_the_recipe_is_checked_like_any_model(recipe, override, where, says) -> None:
    with pytest.raises(RecipeError) as err:
        api.validate(str(recipe), [override])
    text = str(err.value)
    assert where in text and says in text


def test_without_lightgbm_validate_exits_2_naming_the_extra(recipe, tmp_path) -> None:
    """A process where ``import lightgbm`` finds nothing (a meta-path blocker)."""
    blocker = tmp_path / "block" / "sitecustomize.py"
    blocker.parent.mkdir()
    blocker.write_text(
        "import sys\n"
        "class _NoLightGBM:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'lightgbm' or name.startswith('lightgbm.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _NoLightGBM())\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(blocker.parent)}
    probe = "import importlib.util as u; print(u.find_spec('lightgbm'))"
    blocked = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
    assert blocked.returncode != 0 or b"None" in blocked.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "validate", str(recipe)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    out = proc.stdout + proc.stderr
    assert "models.lgb.kind" in out and "sous[lightgbm]" in out
    assert "Traceback" not in out
    assert importlib.util.find_spec("lightgbm") is not None  # this process still has it
