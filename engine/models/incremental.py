"""``kind: incremental``: a ``partial_fit`` learner streamed over row blocks.

Linear models and naive Bayes that learn by ``partial_fit`` (SGD, passive-aggressive,
perceptron, the naive Bayes family) never need all rows at once: the wrapper feeds them
``batch_rows`` rows at a time, ``epochs`` passes, the blocks in a seeded random order each
pass. Only one block is densified at a time (the one-hot output of the preprocessing stays
sparse), so the fit's extra memory is one block whatever the number of rows. The wrapper has
the scikit-learn contract and delegates prediction to the fitted learner, so it is served
like any other model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils.metaestimators import available_if

# keys of a model entry that shape the streaming, not the learner
STREAM_PARAMS = ("batch_rows", "epochs")
DEFAULT_BATCH_ROWS = 10_000


def _block(x: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` of ``x`` (pandas, numpy or sparse), dense when ``x`` is sparse."""
    block = x.iloc[rows] if hasattr(x, "iloc") else x[rows]
    return block.toarray() if hasattr(block, "toarray") else block


def _learner_has(name: str) -> Any:
    def check(self: Any) -> bool:
        learner = getattr(self, "learner_", None)
        if learner is None:
            learner = self.estimator if self.estimator is not None else self._default()
        return hasattr(learner, name)

    return check


class _Incremental(BaseEstimator):
    """What both wrappers do; see the module docstring."""

    def __init__(
        self,
        estimator: Any = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        epochs: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.batch_rows = batch_rows
        self.epochs = epochs
        self.random_state = random_state

    _classifier = False

    def _classes(self, y: np.ndarray) -> dict[str, Any]:
        return {}

    def _default(self) -> Any:
        raise NotImplementedError

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # blocks are densified one at a time
        return tags

    def _learner(self) -> Any:
        """A fresh copy of the learner (the default one when none is given)."""
        return clone(self.estimator) if self.estimator is not None else self._default()

    def fit(self, X: Any, y: Any) -> _Incremental:
        from sklearn.utils.validation import validate_data

        learner = self._learner()
        if not hasattr(learner, "partial_fit"):
            raise TypeError(f"{type(learner).__name__} has no partial_fit")
        if int(self.batch_rows) < 1 or int(self.epochs) < 1:
            raise ValueError("batch_rows and epochs must be at least 1")
        X, y = validate_data(self, X, y, accept_sparse="csr", y_numeric=not self._classifier)
        target = np.asarray(y)
        extra = self._classes(target)
        rng = np.random.default_rng(self.random_state)
        starts = np.arange(0, len(target), int(self.batch_rows))
        self.n_blocks_ = 0
        for _ in range(int(self.epochs)):
            for start in rng.permutation(starts):
                rows = np.arange(start, min(start + int(self.batch_rows), len(target)))
                learner.partial_fit(_block(X, rows), target[rows], **extra)
                self.n_blocks_ += 1
        self.learner_ = learner
        return self

    def _checked(self, X: Any) -> Any:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "learner_")
        return validate_data(self, X, reset=False, accept_sparse="csr")

    def fit_partitions(
        self, partitions: Callable[[int], Iterator[tuple[Any, Any]]], classes: Any = None
    ) -> _Incremental:
        """Fit over data that never is in memory at once: ``partitions(epoch)`` yields the
        (X, y) of one partition at a time (an out-of-core dataset's files, in an order of
        its choosing per epoch), each fed in blocks of ``batch_rows``. ``classes``: every
        class of the whole dataset, for a classifier."""
        learner = self._learner()
        extra: dict[str, Any] = {}
        if classes is not None:
            self.classes_ = np.asarray(classes)
            extra = {"classes": self.classes_}
        self.n_blocks_ = 0
        for epoch in range(int(self.epochs)):
            for x, y in partitions(epoch):
                target = np.asarray(y)
                for start in range(0, len(target), int(self.batch_rows)):
                    rows = np.arange(start, min(start + int(self.batch_rows), len(target)))
                    learner.partial_fit(_block(x, rows), target[rows], **extra)
                    self.n_blocks_ += 1
        self.learner_ = learner
        self.n_features_in_ = int(learner.n_features_in_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        x = self._checked(X)
        return np.asarray(self.learner_.predict(x))

    @property
    def coef_(self) -> Any:
        """The learner's coefficients (what the report's feature importance reads)."""
        return getattr(self.learner_, "coef_", None)


class IncrementalClassifier(ClassifierMixin, _Incremental):
    """A ``partial_fit`` classifier streamed over row blocks (module docstring)."""

    _classifier = True

    def _default(self) -> Any:
        from sklearn.linear_model import SGDClassifier

        return SGDClassifier(random_state=self.random_state)

    def _classes(self, y: np.ndarray) -> dict[str, Any]:
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)
        self.classes_ = np.unique(y)
        return {"classes": self.classes_}

    @available_if(_learner_has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        x = self._checked(X)
        return np.asarray(self.learner_.predict_proba(x))

    @available_if(_learner_has("decision_function"))
    def decision_function(self, X: Any) -> np.ndarray:
        x = self._checked(X)
        return np.asarray(self.learner_.decision_function(x))


class IncrementalRegressor(RegressorMixin, _Incremental):
    """A ``partial_fit`` regressor streamed over row blocks (module docstring)."""

    def _default(self) -> Any:
        from sklearn.linear_model import SGDRegressor

        return SGDRegressor(random_state=self.random_state)


def wrap(learner: Any, stream: dict[str, Any], seed: int) -> _Incremental:
    """The wrapper for ``learner`` (classifier or regressor) with the entry's stream keys."""
    from sklearn.base import is_classifier

    cls = IncrementalClassifier if is_classifier(learner) else IncrementalRegressor
    return cls(learner, random_state=seed, **stream)
