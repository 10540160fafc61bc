"""One model version loaded in the server: rows in, JSON-ready predictions out."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.models.forest import accelerate
from engine.models.predict import argmax_consistent
from engine.security import at_rest

ESTIMATOR_FILE = "estimator.pkl"
META_KEY = "sous"  # BentoML metadata refuses None: Sous's own metadata is one JSON string


def sous_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Sous's part of a BentoML model's metadata (task, features, classes, serving options)."""
    return dict(json.loads(metadata[META_KEY]))


def to_json_value(v: Any) -> Any:
    """A numpy scalar (or plain value) as the plain Python value JSON can carry; a
    timestamp (pandas, numpy or datetime) as its ISO 8601 string, a missing one as None."""
    kind = getattr(getattr(v, "dtype", None), "kind", None)
    if kind == "M":  # numpy datetime64: .item() of a nanosecond one is an int
        v = v.astype("datetime64[us]").item()
    elif not isinstance(v, datetime.date):  # a Timestamp's .item() is nanoseconds too
        item = getattr(v, "item", None)
        if callable(item):
            v = item()
    if isinstance(v, datetime.date):
        return None if v != v else v.isoformat()  # NaT is a date unequal to itself
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class Predictor:
    """Wraps a fitted estimator; ``features`` fixes the column order and dtypes of a row."""

    def __init__(
        self,
        estimator: Any,
        *,
        task: str,
        features: Sequence[Mapping[str, Any]],
        version: str,
        classes: Sequence[Any] | None = None,
    ):
        self.estimator = estimator
        self.task = task
        self.features = [dict(f) for f in features]
        self.columns = [f["name"] for f in self.features]
        self.version = version
        self.classes = list(classes) if classes is not None else self._classes()
        self.has_proba = task == "classification" and hasattr(estimator, "predict_proba")
        self.proba_only = self.has_proba and argmax_consistent(estimator)
        # a forest's probabilities without scikit-learn's per-tree dispatch (bit-identical)
        self.fast = accelerate(estimator) if self.has_proba else estimator
        self.all_float = all(f["dtype"] == "float" for f in self.features)  # None: NaN
        self.forest = direct_forest(estimator, self.columns) if self.all_float else None

    @classmethod
    def load(cls, model_dir: str | Path, metadata: Mapping[str, Any], version: str) -> Predictor:
        import cloudpickle

        # sealed by packaging when encryption at rest is on: opened with $SOUS_ENCRYPTION_KEY
        blob = at_rest.read_sealed(Path(model_dir) / ESTIMATOR_FILE)
        estimator = cloudpickle.loads(blob)
        metadata = sous_metadata(metadata)
        return cls(
            estimator,
            task=str(metadata["task"]),
            features=metadata["features"],
            version=version,
            classes=metadata.get("classes"),
        )

    def _classes(self) -> list[Any]:
        found = getattr(self.estimator, "classes_", None)
        return [to_json_value(c) for c in found] if found is not None else []

    def frame(self, rows: Sequence[Sequence[Any]]) -> Any:
        """Rows as the DataFrame the estimator was fitted on (names and dtypes), built
        column by column in one pass (this runs once per batch, on the request path)."""
        import numpy as np
        import pandas as pd

        if self.all_float:  # one 2-D block: 5x cheaper to build than column by column
            return pd.DataFrame(np.asarray(rows, dtype="float64"), columns=self.columns)
        data: dict[str, Any] = {}
        for i, f in enumerate(self.features):
            col = [r[i] for r in rows]
            has_null = any(v is None for v in col)
            if f["dtype"] == "float" or (f["dtype"] == "int" and has_null):
                data[f["name"]] = np.array([np.nan if v is None else v for v in col], "float64")
            elif f["dtype"] == "int":
                data[f["name"]] = np.array(col, dtype="int64")
            elif f["dtype"] == "datetime":  # ISO strings or datetimes -> UTC Timestamps
                data[f["name"]] = pd.to_datetime(
                    pd.Series(col, dtype=object), utc=True, format="ISO8601"
                )
            else:
                data[f["name"]] = col
        return pd.DataFrame(data, columns=self.columns)

    def __call__(self, rows: list[Any]) -> list[dict[str, Any]]:
        """Predictions for ``rows``: ``{"prediction": ..., "probabilities": {...}|None}``."""
        proba = forest_proba(self.forest, rows) if self.forest is not None else None
        if proba is not None:  # numbers straight to the trees: no frame, no re-validation
            import numpy as np

            labels = np.asarray(self.estimator.classes_).take(np.argmax(proba, axis=1))
            return self._answers(labels, proba)
        x = self.frame(rows)
        if self.proba_only:  # one model call instead of two (half the cost of a forest)
            import numpy as np

            proba = self.fast.predict_proba(x)
            labels = np.asarray(self.estimator.classes_).take(np.argmax(proba, axis=1))
        else:
            labels = self.estimator.predict(x)
            if not self.has_proba:
                return [{"prediction": to_json_value(v), "probabilities": None} for v in labels]
            proba = self.fast.predict_proba(x)
        return self._answers(labels, proba)

    def _answers(self, labels: Any, proba: Any) -> list[dict[str, Any]]:
        _check_finite(proba)
        names = [str(c) for c in self.classes]
        return [
            {
                "prediction": to_json_value(v),
                "probabilities": {n: float(p) for n, p in zip(names, row, strict=True)},
            }
            for v, row in zip(labels, proba, strict=True)
        ]


def direct_forest(estimator: Any, columns: Sequence[str]) -> Any | None:
    """``estimator`` when it is a bare single-output random or extra-trees forest fitted on
    exactly ``columns`` (in that order): its rows of numbers can then go to the trees as they
    are. scikit-learn's own checks on a one-record DataFrame (feature names through
    narwhals, dtypes, finiteness) cost more than its 100 trees; here the record is already
    typed and ordered by the served schema. None otherwise (the general path)."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    if type(estimator) not in (RandomForestClassifier, ExtraTreesClassifier):
        return None
    if getattr(estimator, "n_outputs_", None) != 1 or not getattr(estimator, "estimators_", None):
        return None
    names = getattr(estimator, "feature_names_in_", None)
    if names is None or list(names) != list(columns):
        return None
    return estimator


def forest_proba(forest: Any, rows: Sequence[Sequence[Any]]) -> Any | None:
    """The forest's ``predict_proba`` of ``rows`` (all numbers), bit-identical to
    scikit-learn's: float32 input, the trees' leaf values added in order in float64, divided
    by the number of trees, as :mod:`engine.models.forest` does after scikit-learn's checks.
    None when a value is missing or not finite: the general path then decides (NaN support
    depends on the trees; scikit-learn refuses what they cannot take)."""
    import numpy as np

    try:
        xv = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if xv.ndim != 2 or xv.shape[1] != forest.n_features_in_ or not np.isfinite(xv).all():
        return None
    xv = xv.astype(np.float32)
    total = np.zeros((xv.shape[0], int(forest.n_classes_)), dtype=np.float64)
    for tree in forest.estimators_:
        total += tree.tree_.predict(xv)[:, : tree.n_classes_]
    total /= len(forest.estimators_)
    return total


def _check_finite(proba: Any) -> None:
    """Refuse (ValueError: a 422 for the client) rows the model could not score: inputs far
    outside the training range make some models answer NaN, which is no probability."""
    import numpy as np

    bad = ~np.isfinite(np.asarray(proba, dtype="float64")).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"non-finite probabilities for {len(rows)} row(s) (first: row {int(rows[0])}); "
            "are the inputs within the range the model was trained on?"
        )
