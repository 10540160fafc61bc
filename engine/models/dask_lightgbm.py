"""``kind: dask_lightgbm``: LightGBM's gradient-boosted trees trained across the Dask cluster.

The same shape as ``kind: dask_xgboost`` (:mod:`engine.models.dask_xgboost`; what both share
is in :mod:`engine.models.dask_boost`): a scikit-learn estimator at the end of the usual
Pipeline. ``fit`` cuts the rows into partitions (one per worker by default) and trains with
LightGBM's own Dask estimators (``lightgbm.DaskLGBMClassifier`` / ``DaskLGBMRegressor``): one
LightGBM training process per worker holding partitions, joined over LightGBM's own sockets
(data-parallel trees), so no worker holds more than its share of the rows.

Inside a Dask task the fit leaves the worker's thread pool while it waits (``worker_client``),
so a fit node on a one-thread worker does not block its own training tasks; and one
distributed LightGBM fit runs at a time on a cluster (a Dask ``Lock``): LightGBM's training
tasks wait for all their peers, and two fits sharing one-thread workers could each hold a
worker the other waits for. Without a cluster (``cluster.kind: sync``, or a fit outside any
Dask client) the same parameters train in-process with ``lightgbm.LGBMClassifier`` /
``LGBMRegressor``.

Early stopping: LightGBM's Dask API does not support it (lightgbm issues #3712, #4493;
``early_stopping_rounds`` hangs a distributed fit, #6351), so this adapter has no
``early_stopping_rounds``: choose ``n_estimators`` with a sweep. What is kept after the fit is
the plain local model (``to_local()``): prediction is in-process, needs no cluster and no Dask.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from engine.models.dask_boost import (
    _DaskBoostBase,
    cluster_client,
    dense,
    encode_classes,
    partitions,
    row_blocks,
    two_columns,
)

CLASSES = {
    "classification": "engine.models.dask_lightgbm.DaskLightGBMClassifier",
    "regression": "engine.models.dask_lightgbm.DaskLightGBMRegressor",
}
LOCK = "sous-dask-lightgbm"  # one distributed LightGBM fit at a time per cluster
EXTRA = "lightgbm"  # pip install 'sous[lightgbm]'


class _DaskLightGBMBase(_DaskBoostBase):
    """What the classifier and the regressor share; see the module docstring."""

    def __init__(
        self,
        n_estimators: int = 100,
        num_leaves: int = 31,
        max_depth: int = -1,
        learning_rate: float = 0.1,
        subsample: float = 1.0,
        subsample_freq: int = 0,
        colsample_bytree: float = 1.0,
        min_child_samples: int = 20,
        min_child_weight: float = 1e-3,
        reg_lambda: float = 0.0,
        reg_alpha: float = 0.0,
        max_bin: int = 255,
        n_partitions: int | None = None,
        distributed: bool = True,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.min_child_samples = min_child_samples
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.max_bin = max_bin
        self.n_partitions = n_partitions
        self.distributed = distributed
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self) -> dict[str, Any]:
        """LightGBM's estimator parameters (the recipe's seed; quiet: LightGBM logs to
        stdout, not through Python's warnings)."""
        return {
            "n_estimators": self.n_estimators,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "subsample_freq": self.subsample_freq,
            "colsample_bytree": self.colsample_bytree,
            "min_child_samples": self.min_child_samples,
            "min_child_weight": self.min_child_weight,
            "reg_lambda": self.reg_lambda,
            "reg_alpha": self.reg_alpha,
            "max_bin": self.max_bin,
            "random_state": 0 if self.random_state is None else int(self.random_state),
            "n_jobs": self.n_jobs,
            "verbosity": -1,
        }

    def fit(self, X: Any, y: Any) -> _DaskLightGBMBase:
        from sklearn.utils.validation import validate_data

        X, y = validate_data(
            self, X, y, accept_sparse=("csr", "csc"), dtype=np.float32, y_numeric=not
            isinstance(self, ClassifierMixin)
        )  # fmt: skip
        x, target = dense(X), self._targets(y)
        self._keep(*_on_cluster(self, lambda client: self._fit(client, x, target)))
        return self

    def fit_partitioned(
        self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None, classes: Any = None
    ) -> _DaskLightGBMBase:
        """Fit on Dask collections whose partitions the workers read themselves (an
        out-of-core dataset's parquet files). ``y`` holds class codes for a classifier,
        whose ``classes`` are given. ``eval_set`` is not used: LightGBM's Dask API cannot
        stop early (module docstring). Without a cluster the collections are computed
        here and trained in-process."""
        if classes is not None:
            self.classes_ = np.asarray(classes)
        self.n_features_in_ = len(X.columns)

        def fit(client: Any) -> tuple[Any, int]:
            if client is None:
                x, codes = dense(X.compute()), np.asarray(y.compute(), dtype=np.float32)
                return self._local().fit(x, codes), 1
            return self._fit_collections(client, X, y), int(X.npartitions)

        self._keep(*_on_cluster(self, fit))
        return self

    def _fit(self, client: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, int]:
        if client is None:
            return self._local().fit(x, y), 1
        parts = partitions(self.n_partitions, len(client.nthreads()), len(y))
        dx, dy = row_blocks(x, y, parts)
        return self._fit_collections(client, dx, dy), parts

    def _fit_collections(self, client: Any, dx: Any, dy: Any) -> Any:
        """LightGBM's Dask estimator on collections; returns its local model."""
        import lightgbm

        cls = (
            lightgbm.DaskLGBMClassifier
            if isinstance(self, ClassifierMixin)
            else lightgbm.DaskLGBMRegressor
        )
        # each worker's training uses that worker's threads: LightGBM drops n_jobs there,
        # and says so even when it was left at its default
        params = {k: v for k, v in self._params().items() if k != "n_jobs"}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
            local = cls(client=client, **params).fit(dx, dy).to_local()
        return local.set_params(n_jobs=self.n_jobs)  # predicting, here: the recipe's threads

    def _local(self) -> Any:
        import lightgbm

        cls = (
            lightgbm.LGBMClassifier if isinstance(self, ClassifierMixin) else lightgbm.LGBMRegressor
        )
        return cls(**self._params())

    def _keep(self, model: Any, trained_on: int) -> None:
        self.model_ = model
        self.trained_on_ = trained_on

    def _raw(self, X: Any) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc"), dtype=np.float32)
        if isinstance(self, ClassifierMixin):
            return np.asarray(self.model_.predict_proba(dense(X)))
        return np.asarray(self.model_.predict(dense(X)))

    @property
    def feature_importances_(self) -> np.ndarray:
        """Total gain per input column, normalised to sum to 1 (zeros for unused columns)."""
        gain = np.asarray(
            self.model_.booster_.feature_importance(importance_type="gain"), dtype=float
        )
        total = gain.sum()
        return gain / total if total > 0 else gain


def _on_cluster(estimator: _DaskLightGBMBase, fit: Any) -> Any:
    """``fit(client)`` with the cluster's client (:func:`cluster_client`: seceded inside a
    task) while holding the cluster's LightGBM lock; else ``fit(None)`` (in-process)."""
    if not estimator.distributed:
        return fit(None)
    import distributed

    with cluster_client() as client:
        if client is None:
            return fit(None)
        with distributed.Lock(LOCK):
            return fit(client)


class DaskLightGBMClassifier(ClassifierMixin, _DaskLightGBMBase):
    """Gradient-boosted tree classifier trained with LightGBM's Dask API (module docstring)."""

    def _targets(self, y: Any) -> np.ndarray:
        return encode_classes(self, y)

    def predict_proba(self, X: Any) -> np.ndarray:
        return two_columns(self._raw(X))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return np.asarray(self.classes_).take(np.argmax(proba, axis=1))


class DaskLightGBMRegressor(RegressorMixin, _DaskLightGBMBase):
    """Gradient-boosted tree regressor trained with LightGBM's Dask API (module docstring)."""

    def predict(self, X: Any) -> np.ndarray:
        return self._raw(X).astype(float)
