"""kind: dask_xgboost and kind: incremental as estimators (in-process; the cluster path is
in tests/integration/test_scale_training.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression

from engine.errors import UserError
from engine.models.build import make_model
from engine.models.dask_xgboost import DaskXGBClassifier, DaskXGBRegressor
from engine.models.incremental import IncrementalClassifier, IncrementalRegressor
from engine.provenance import model_dependencies
from engine.specs import ModelSpec, frozen_map


def _xy(n: int = 600, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n, 8, n_informative=5, n_classes=classes, n_clusters_per_class=1, random_state=0
    )
    return x, np.array(["a", "b", "c", "d"])[y]


def test_dask_xgboost_without_a_cluster_trains_in_process_and_keeps_string_labels() -> None:
    x, y = _xy()
    model = DaskXGBClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    assert model.trained_on_ == 1  # no Dask client here: xgboost.train in this process
    assert list(model.classes_) == ["a", "b", "c"]
    proba = model.predict_proba(x)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (model.predict(x) == y).mean() > 0.9
    assert model.best_iteration_ == 29
    importances = model.feature_importances_
    assert importances.shape == (8,) and importances.sum() == pytest.approx(1.0)


def test_dask_xgboost_binary_probabilities_follow_classes() -> None:
    x, y = _xy(classes=2)
    model = DaskXGBClassifier(n_estimators=20, random_state=0).fit(x, y)
    proba = model.predict_proba(x)
    assert proba.shape == (len(y), 2)
    assert (model.classes_.take(proba.argmax(axis=1)) == model.predict(x)).all()


def test_dask_xgboost_early_stopping_on_a_held_out_validation_split() -> None:
    """Many rounds at a high learning rate: boosting stops on the held-out rows and the
    model predicts with its best iteration, not its last."""
    x, y = _xy(400)
    model = DaskXGBClassifier(
        n_estimators=500, learning_rate=0.5, early_stopping_rounds=5, random_state=0
    ).fit(x, y)
    assert model.best_iteration_ < 100
    assert model.booster_.num_boosted_rounds() <= model.best_iteration_ + 6
    full = model.booster_.inplace_predict(x.astype(np.float32))
    assert not np.allclose(full, model.predict_proba(x))  # the best iteration, not the last


def test_dask_xgboost_is_deterministic_for_a_seed_and_pickles() -> None:
    x, y = _xy()
    a = DaskXGBClassifier(n_estimators=20, subsample=0.7, random_state=3).fit(x, y)
    b = DaskXGBClassifier(n_estimators=20, subsample=0.7, random_state=3).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    again = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(again.predict_proba(x), a.predict_proba(x))


def test_dask_xgboost_regressor() -> None:
    x, y = make_regression(500, 6, noise=0.1, random_state=0)
    model = DaskXGBRegressor(n_estimators=60, random_state=0).fit(x, y)
    assert model.score(x, y) > 0.9


def test_make_model_builds_the_dask_xgboost_class_for_the_task_with_the_recipe_seed() -> None:
    spec = ModelSpec("xgb", "dask_xgboost", None, frozen_map({"max_depth": 3}))
    clf, merged = make_model(spec, {"n_estimators": 7}, task="classification", seed=11)
    assert isinstance(clf, DaskXGBClassifier)
    assert (clf.max_depth, clf.n_estimators, clf.random_state) == (3, 7, 11)
    assert merged == {"max_depth": 3, "n_estimators": 7}
    reg, _ = make_model(spec, {}, task="regression", seed=0)
    assert isinstance(reg, DaskXGBRegressor)
    with pytest.raises(UserError, match="bad parameter"):
        make_model(ModelSpec("xgb", "dask_xgboost", None, frozen_map({"depth": 3})), {},
                   task="classification", seed=0)  # fmt: skip


def test_keys_of_dask_xgboost_fits_name_xgboost_and_the_adapter() -> None:
    code, libs = model_dependencies(ModelSpec("xgb", "dask_xgboost", None))
    assert "xgboost" in libs and code
    code, libs = model_dependencies(ModelSpec("sgd", "incremental", "sklearn.linear_model.X"))
    assert code and "sklearn" in libs


def test_incremental_streams_blocks_exactly_like_partial_fit_by_hand() -> None:
    """The wrapper is partial_fit over the blocks in its seeded order, epoch after epoch:
    the same calls by hand give the same coefficients."""
    from sklearn.linear_model import SGDClassifier

    x, y = _xy(1000)
    spec = ModelSpec("sgd", "incremental", "sklearn.linear_model.SGDClassifier",
                     frozen_map({"batch_rows": 128, "epochs": 3, "loss": "log_loss"}))  # fmt: skip
    model, _ = make_model(spec, {}, task="classification", seed=5)
    assert isinstance(model, IncrementalClassifier)
    model.fit(x, y)
    assert model.n_blocks_ == 3 * 8  # ceil(1000 / 128) blocks per epoch
    by_hand = SGDClassifier(loss="log_loss", random_state=5)
    rng = np.random.default_rng(5)
    starts = np.arange(0, 1000, 128)
    for _ in range(3):
        for s in rng.permutation(starts):
            by_hand.partial_fit(x[s : s + 128], y[s : s + 128], classes=np.unique(y))
    np.testing.assert_array_equal(model.learner_.coef_, by_hand.coef_)
    assert model.predict_proba(x).shape == (1000, 3)
    assert (model.predict(x) == y).mean() > 0.7


def test_incremental_densifies_one_block_at_a_time() -> None:
    """A sparse input reaches the learner one dense block of batch_rows rows at a time."""
    import scipy.sparse as sp
    from sklearn.naive_bayes import GaussianNB

    seen: list[tuple[type, int]] = []

    class Spy(GaussianNB):
        def partial_fit(self, X, y, classes=None, sample_weight=None):
            seen.append((type(X), len(X)))
            return super().partial_fit(X, y, classes=classes)

    x, y = _xy(250, classes=2)
    IncrementalClassifier(Spy(), batch_rows=100).fit(sp.csr_matrix(x), y)
    assert sorted(n for _, n in seen) == [50, 100, 100]
    assert all(t is np.ndarray for t, _ in seen)


def test_incremental_without_hinge_probabilities_has_none() -> None:
    from sklearn.linear_model import SGDClassifier

    x, y = _xy(200)
    model = IncrementalClassifier(SGDClassifier(random_state=0), batch_rows=50).fit(x, y)
    assert not hasattr(model, "predict_proba")  # hinge loss: decision_function only
    assert model.decision_function(x).shape == (200, 3)


def test_incremental_regressor_and_a_learner_without_partial_fit() -> None:
    x, y = make_regression(800, 5, noise=0.1, random_state=0)
    spec = ModelSpec("sgd", "incremental", "sklearn.linear_model.SGDRegressor",
                     frozen_map({"batch_rows": 100, "epochs": 5}))  # fmt: skip
    model, _ = make_model(spec, {}, task="regression", seed=0)
    assert isinstance(model, IncrementalRegressor)
    assert model.fit(pd.DataFrame(x), y).score(x, y) > 0.9
    bad = ModelSpec("rf", "incremental", "sklearn.ensemble.RandomForestRegressor")
    with pytest.raises(UserError, match="no partial_fit"):
        make_model(bad, {}, task="regression", seed=0)
    with pytest.raises(UserError, match="needs a _target_"):
        make_model(ModelSpec("sgd", "incremental", None), {}, task="regression", seed=0)
