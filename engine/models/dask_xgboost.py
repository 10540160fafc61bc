"""``kind: dask_xgboost``: gradient-boosted trees trained across the Dask cluster.

The estimator has the scikit-learn contract, so it sits at the end of the usual Pipeline and
CV, sweeps, gates, packaging and serving treat it like any model. ``fit`` cuts the rows into
partitions (one per worker by default) and trains through XGBoost's own Dask API
(``xgboost.dask``): each worker builds histograms over its partitions and the workers
all-reduce them, so no worker holds more than its share of the training rows during the fit.
Inside a Dask task XGBoost secedes from the worker's thread pool (``worker_client``), so a fit
node occupying the only thread of its worker does not deadlock the training tasks.

Without a cluster (``cluster.kind: sync``, or a fit outside any Dask client) the same
parameters train in-process with ``xgboost.train``.

With ``early_stopping_rounds`` a stratified ``validation_fraction`` of the training rows is
held out as the validation split that stops boosting; the model keeps the best iteration.
What is kept after the fit is a plain :class:`xgboost.Booster`: prediction is in-process,
needs no cluster and no Dask (a served model is a Booster inside the Pipeline).
What the adapters of both boosting libraries share is in :mod:`engine.models.dask_boost`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from engine.models.dask_boost import (
    Reader,
    _DaskBoostBase,
    cluster_client,
    dense,
    encode_classes,
    holdout,
    load_partitions,
    partitions,
    row_blocks,
    two_columns,
)
from engine.models.xgb_external import (
    Shard,
    needs_external_memory,
    parquet_rows,
    shards,
    smallest_memory_limit,
    train_on_cluster,
    train_shard,
)

CLASSES = {
    "classification": "engine.models.dask_xgboost.DaskXGBClassifier",
    "regression": "engine.models.dask_xgboost.DaskXGBRegressor",
}


class _DaskXGBBase(_DaskBoostBase):
    """What both the classifier and the regressor do; see the module docstring."""

    _objective = "reg:squarederror"

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 6,
        learning_rate: float = 0.3,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        max_bin: int = 256,
        early_stopping_rounds: int | None = None,
        validation_fraction: float = 0.1,
        n_partitions: int | None = None,
        distributed: bool = True,
        external_memory: bool | str = "auto",
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_partitions = n_partitions
        self.distributed = distributed
        self.external_memory = external_memory
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- what the subclasses decide ------------------------------------------------------

    def _booster_params(self) -> dict[str, Any]:
        return {"objective": self._objective}

    # -- fit -----------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        """XGBoost's training parameters (histogram trees, the recipe's seed)."""
        return {
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "reg_lambda": self.reg_lambda,
            "reg_alpha": self.reg_alpha,
            "gamma": self.gamma,
            "max_bin": self.max_bin,
            "seed": 0 if self.random_state is None else int(self.random_state),
            "nthread": self.n_jobs,
            **self._booster_params(),
        }

    def _holdout(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows to train on and rows that stop boosting early (None without early stopping)."""
        if not self.early_stopping_rounds:
            return np.arange(len(y)), None
        return holdout(
            y,
            fraction=self.validation_fraction,
            seed=self.random_state,
            stratify=isinstance(self, ClassifierMixin),
        )

    def fit(self, X: Any, y: Any) -> _DaskXGBBase:
        from sklearn.utils.validation import validate_data

        X, y = validate_data(
            self, X, y, accept_sparse=("csr", "csc"), dtype=np.float32, y_numeric=not
            isinstance(self, ClassifierMixin)
        )  # fmt: skip
        x = dense(X)
        target = self._targets(y)
        fit_rows, stop_rows = self._holdout(target)
        train = (x[fit_rows], target[fit_rows])
        stop = None if stop_rows is None else (x[stop_rows], target[stop_rows])
        client = self._client() if self.distributed else None
        if client is None:
            booster = self._fit_in_process(train, stop)
            self.trained_on_ = 1
        else:
            booster, self.trained_on_ = self._fit_on_cluster(client, train, stop)
        self._keep(booster)
        return self

    def _client(self) -> Any:
        """The Dask client XGBoost would use here (a worker's, inside a task), else None."""
        from xgboost import dask as dxgb

        try:
            return dxgb.DaskXGBRegressor().client
        except ValueError:  # no client in this process and not in a worker: no cluster
            return None

    def fit_partitioned(
        self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None, classes: Any = None
    ) -> _DaskXGBBase:
        """Fit on Dask collections whose partitions the workers read themselves (an
        out-of-core dataset's parquet files): no partition passes through this process.
        ``y`` holds class codes for a classifier, whose ``classes`` are given. ``eval_set``:
        the validation split that stops boosting early (with ``early_stopping_rounds``).
        Without a cluster the collections are computed here and trained in-process."""
        if classes is not None:
            self.classes_ = np.asarray(classes)
        self.n_features_in_ = len(X.columns)
        stop = eval_set if self.early_stopping_rounds else None
        client = self._client() if self.distributed else None
        if client is None:
            train = (dense(X.compute()), np.asarray(y.compute(), dtype=np.float32))
            held = None if stop is None else (dense(stop[0].compute()), stop[1].compute())
            booster, self.trained_on_ = self._fit_in_process(train, held), 1
        else:
            booster = self._fit_collections(X, y, stop)
            self.trained_on_ = int(X.npartitions)
        self._keep(booster)
        return self

    def fit_files(
        self,
        train: Sequence[str],
        valid: Sequence[str],
        read: Reader,
        *,
        width: int,
        classes: Any = None,
    ) -> _DaskXGBBase:
        """Fit on parquet files that ``read`` turns into float32 rows and labels (class codes
        for a classifier, whose ``classes`` are given), ``valid`` stopping boosting early.
        With external memory (``external_memory: true``, or ``auto`` when the workers could
        not hold their share of the rows) each worker streams its own files
        (:mod:`engine.models.xgb_external`); otherwise the workers load them as Dask
        partitions for ``xgboost.dask``."""
        if self.external_memory not in ("auto", True, False):
            raise ValueError(
                f"external_memory must be true, false or 'auto', got {self.external_memory!r}"
            )
        if classes is not None:
            self.classes_ = np.asarray(classes)
        self.n_features_in_ = width
        client = self._client() if self.distributed else None
        stop = list(valid) if self.early_stopping_rounds else []
        forced = None if self.external_memory == "auto" else bool(self.external_memory)
        # rows from the parquet footers, read once, for the auto rule and the in-memory route
        rows = 0 if forced else parquet_rows(train)
        # which route, kept for reports
        self.streamed_ = forced if forced is not None else self._crowded(client, rows, width)
        if not self.streamed_:
            x, y = load_partitions(train, read, width)
            held = load_partitions(stop, read, width) if stop else None
            self.fit_partitioned(x, y, eval_set=held)
            self.rows_trained_ = rows
            return self
        booster, self.trained_on_, self.rows_trained_ = self._fit_external(
            client is not None, list(train), stop, read
        )
        self._keep(booster)
        return self

    def _crowded(self, client: Any, rows: int, width: int) -> bool:
        """Whether ``rows`` would crowd the workers' memory (this machine's, without a
        cluster) if trained in memory: ``auto`` then streams (see :meth:`fit_files`)."""
        if client is None:
            import psutil

            return needs_external_memory(rows, width, 1, psutil.virtual_memory().available)
        workers = len(client.nthreads())
        return needs_external_memory(rows, width, workers, smallest_memory_limit(client))

    def _fit_external(
        self, on_cluster: bool, train: list[str], stop: list[str], read: Reader
    ) -> tuple[Any, int, int]:
        """The Booster, the shards trained on, and the rows streamed."""
        params = self._params()
        if not on_cluster:
            result = train_shard(
                Shard(tuple(train), tuple(stop)), read, params, self.n_estimators,
                self.early_stopping_rounds,
            )  # fmt: skip
            return result.booster, 1, result.rows
        with cluster_client() as client:  # seceded inside a task: this worker trains too
            parts = shards(train, stop, self.n_partitions or len(client.nthreads()))
            results = train_on_cluster(
                client, parts, read, params, self.n_estimators, self.early_stopping_rounds
            )
        return results[0].booster, len(parts), sum(r.rows for r in results)

    def _keep(self, booster: Any) -> None:
        self.booster_ = booster
        best = booster.attr("best_iteration")
        self.best_iteration_ = int(best) if best is not None else booster.num_boosted_rounds() - 1

    def _fit_collections(self, dx: Any, dy: Any, stop: tuple[Any, Any] | None) -> Any:
        """``xgboost.dask`` on collections: XGBoost runs one training task per worker
        holding partitions, secedes from the worker pool when called inside a task."""
        from xgboost import dask as dxgb

        params = {
            k: v for k, v in self._params().items() if k not in ("seed", "nthread", "num_class")
        }
        cls = dxgb.DaskXGBClassifier if isinstance(self, ClassifierMixin) else dxgb.DaskXGBRegressor
        model = cls(
            n_estimators=self.n_estimators,
            early_stopping_rounds=self.early_stopping_rounds if stop is not None else None,
            random_state=self._params()["seed"],
            n_jobs=self.n_jobs,
            **params,
        )
        model.fit(dx, dy, eval_set=None if stop is None else [stop], verbose=False)
        return model.get_booster()

    def _fit_in_process(self, train: tuple[Any, Any], stop: tuple[Any, Any] | None) -> Any:
        import xgboost as xgb

        dtrain = xgb.DMatrix(train[0], label=train[1])
        evals = [] if stop is None else [(xgb.DMatrix(stop[0], label=stop[1]), "valid")]
        return xgb.train(
            self._params(),
            dtrain,
            num_boost_round=self.n_estimators,
            evals=evals,
            early_stopping_rounds=self.early_stopping_rounds if evals else None,
            verbose_eval=False,
        )

    def _fit_on_cluster(
        self, client: Any, train: tuple[Any, Any], stop: tuple[Any, Any] | None
    ) -> tuple[Any, int]:
        """Train with ``xgboost.dask`` over ``n_partitions`` row blocks (one per worker by
        default); returns the Booster and how many partitions it was trained on."""
        parts = partitions(self.n_partitions, len(client.nthreads()), len(train[1]))
        dx, dy = row_blocks(*train, parts)
        held = None if stop is None else row_blocks(*stop, parts)
        return self._fit_collections(dx, dy, held), parts

    # -- predict (in-process, a plain Booster) -------------------------------------------

    def _raw(self, X: Any) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "booster_")
        X = validate_data(self, X, reset=False, accept_sparse=("csr", "csc"), dtype=np.float32)
        out = self.booster_.inplace_predict(dense(X), iteration_range=(0, self.best_iteration_ + 1))
        return np.asarray(out)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Total gain per input column, normalised to sum to 1 (zeros for unused columns)."""
        gain = self.booster_.get_score(importance_type="total_gain")
        values = np.zeros(self.n_features_in_, dtype=float)
        for name, value in gain.items():
            values[int(name.lstrip("f"))] = value
        total = values.sum()
        return values / total if total > 0 else values


class DaskXGBClassifier(ClassifierMixin, _DaskXGBBase):
    """Gradient-boosted tree classifier trained with ``xgboost.dask`` (module docstring)."""

    def _targets(self, y: Any) -> np.ndarray:
        return encode_classes(self, y)

    def _booster_params(self) -> dict[str, Any]:
        if len(self.classes_) > 2:
            return {"objective": "multi:softprob", "num_class": len(self.classes_)}
        return {"objective": "binary:logistic"}

    def predict_proba(self, X: Any) -> np.ndarray:
        return two_columns(self._raw(X))  # binary: the probability of classes_[1], widened

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return np.asarray(self.classes_).take(np.argmax(proba, axis=1))


class DaskXGBRegressor(RegressorMixin, _DaskXGBBase):
    """Gradient-boosted tree regressor trained with ``xgboost.dask`` (module docstring)."""

    def predict(self, X: Any) -> np.ndarray:
        return self._raw(X).astype(float)
