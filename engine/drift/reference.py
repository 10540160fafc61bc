"""The reference kept with every model version: what monitoring compares live traffic with.

Built once at packaging time from the training rows and the test predictions, and stored as
``reference.json`` inside the BentoML model (so it travels with the Bento and the server can
read it). Bounded and PII-free by construction: numeric features keep 99 quantile edges and
the counts between them, categorical ones keep at most ``MAX_CATEGORIES`` values that occur
in at least ``MIN_COUNT`` training rows (a rare value, which could single a person out, is
folded into "other"), and columns the recipe masks as PII are left out. No raw row is kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.security import at_rest
from engine.specs import EMPTY, ColumnSpec, SchemaSpec, thaw

REFERENCE_FILE = "reference.json"
FORMAT = 1
QUANTILES = 99  # interior edges at the 1st..99th percentiles
MAX_CATEGORIES = 100
MIN_COUNT = 5
MAX_ROWS = 1_000_000  # a larger training frame is sampled (seeded) for the quantiles
OTHER = "__other__"


@dataclass(frozen=True)
class Distribution:
    """One column's reference: counts over bins (numeric) or categories (+ "other").

    Numeric bins are ``(-inf, e0], (e0, e1], ..., (ek, inf)`` over ``edges``, so
    ``len(counts) == len(edges) + 1``; categorical counts end with the "other" bucket."""

    kind: str  # "numeric" | "categorical"
    counts: tuple[int, ...]
    rows: int  # rows seen, missing included
    missing: int
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    mean: float | None = None
    std: float | None = None

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Reference:
    """Everything a version keeps for monitoring (serialised as ``reference.json``)."""

    task: str
    rows: int
    features: Mapping[str, Distribution]
    dtypes: Mapping[str, str]  # feature -> served dtype (float|int|str|bool|datetime)
    prediction: Distribution | None
    metrics: Mapping[str, float] = EMPTY
    schema: tuple[ColumnSpec, ...] = ()
    classes: tuple[str, ...] = ()
    skipped: tuple[str, ...] = field(default=())  # features not monitored (PII, datetime)
    live_rows: int = 1000  # the server's rolling window for its drift gauges

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "task": self.task,
                "rows": self.rows,
                "features": {k: _dist_json(v) for k, v in self.features.items()},
                "dtypes": dict(self.dtypes),
                "prediction": None if self.prediction is None else _dist_json(self.prediction),
                "metrics": dict(self.metrics),
                "schema": [
                    {"name": c.name, "nullable": c.nullable, "checks": thaw(c.checks)}
                    for c in self.schema
                ],
                "classes": list(self.classes),
                "skipped": list(self.skipped),
                "live_rows": self.live_rows,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Reference:
        from engine.specs import frozen_map

        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise ValueError(f"reference format {d.get('format')!r} is not {FORMAT}")
        pred = d.get("prediction")
        return cls(
            task=str(d["task"]),
            rows=int(d["rows"]),
            features={k: _dist_from(v) for k, v in d["features"].items()},
            dtypes={str(k): str(v) for k, v in d["dtypes"].items()},
            prediction=None if pred is None else _dist_from(pred),
            metrics={str(k): float(v) for k, v in d.get("metrics", {}).items()},
            schema=tuple(
                ColumnSpec(
                    name=c["name"],
                    nullable=bool(c["nullable"]),
                    required=False,
                    checks=frozen_map(c["checks"]),
                )
                for c in d.get("schema", [])
            ),
            classes=tuple(str(c) for c in d.get("classes", [])),
            skipped=tuple(d.get("skipped", [])),
            live_rows=int(d.get("live_rows", 1000)),
        )

    def schema_spec(self) -> SchemaSpec | None:
        """The training schema's checks on the served features (warn: monitoring counts)."""
        cols = tuple(c for c in self.schema if c.checks or not c.nullable)
        return SchemaSpec(on_failure="warn", columns=cols) if cols else None


def _dist_json(d: Distribution) -> dict[str, Any]:
    return {
        "kind": d.kind,
        "counts": list(d.counts),
        "rows": d.rows,
        "missing": d.missing,
        "edges": list(d.edges),
        "categories": list(d.categories),
        "mean": d.mean,
        "std": d.std,
    }


def _dist_from(d: Mapping[str, Any]) -> Distribution:
    return Distribution(
        kind=str(d["kind"]),
        counts=tuple(int(c) for c in d["counts"]),
        rows=int(d["rows"]),
        missing=int(d["missing"]),
        edges=tuple(float(e) for e in d.get("edges", [])),
        categories=tuple(str(c) for c in d.get("categories", [])),
        mean=d.get("mean"),
        std=d.get("std"),
    )


def kind_of(dtype: Any) -> str | None:
    """``numeric``, ``categorical`` or None (datetimes: time always drifts) for a dtype."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return None
    return "categorical"


def numeric_distribution(values: Any) -> Distribution:
    """Quantile edges and the counts between them; NaN counts as missing."""
    import numpy as np

    arr = np.asarray(values, dtype="float64")
    missing = int(np.isnan(arr).sum())
    present = arr[~np.isnan(arr)]
    if len(present) == 0:
        return Distribution("numeric", (0,), len(arr), missing)
    edges = np.unique(np.quantile(present, np.linspace(0.01, 0.99, QUANTILES)))
    idx = np.searchsorted(edges, present, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return Distribution(
        "numeric",
        tuple(int(c) for c in counts),
        len(arr),
        missing,
        edges=tuple(float(e) for e in edges),
        mean=float(present.mean()),
        std=float(present.std()),
    )


def categorical_distribution(values: Any, *, min_count: int = MIN_COUNT) -> Distribution:
    """The frequent values (at least ``min_count`` rows, at most ``MAX_CATEGORIES``) and
    "other"; values are compared as strings (``True``, ``"pro"``)."""
    import pandas as pd

    s = pd.Series(values, dtype=object)
    missing = int(s.isna().sum())
    counts = s.dropna().map(str).value_counts()
    kept = counts[counts >= min_count].head(MAX_CATEGORIES)
    other = int(counts.sum() - kept.sum())
    return Distribution(
        "categorical",
        (*(int(c) for c in kept.to_numpy()), other),
        len(s),
        missing,
        categories=tuple(str(k) for k in kept.index),
    )


def build_reference(
    frame: Any,
    features: Sequence[str],
    predictions: Any,
    test_metrics: Mapping[str, float],
    schema: SchemaSpec | None,
    *,
    task: str = "classification",
    dtypes: Mapping[str, str] | None = None,
    classes: Sequence[Any] = (),
    pii: Collection[str] = (),
    seed: int = 0,
    live_rows: int = 1000,
) -> Reference:
    """The reference of a version: ``frame`` holds the training rows (only ``features`` are
    read), ``predictions`` the model's predictions on the test split."""
    from engine.data.kinds import feature_kind

    if len(frame) > MAX_ROWS:
        frame = frame.sample(MAX_ROWS, random_state=seed)
    dists: dict[str, Distribution] = {}
    skipped: list[str] = []
    for col in features:
        kind = kind_of(frame[col].dtype)
        if col in pii or kind is None:
            skipped.append(col)
        elif kind == "numeric":
            dists[col] = numeric_distribution(
                frame[col].to_numpy(dtype="float64", na_value=math.nan)
            )
        else:
            dists[col] = categorical_distribution(frame[col])
    served = dict(dtypes or {c: feature_kind(frame[c].dtype) for c in features})
    checks = {c.name: c for c in (schema.columns if schema else ())}
    return Reference(
        task=task,
        rows=len(frame),
        features=dists,
        dtypes=served,
        prediction=_prediction_distribution(predictions, task),
        metrics={k: float(v) for k, v in test_metrics.items()},
        schema=tuple(
            ColumnSpec(name=c, nullable=checks[c].nullable, required=False, checks=checks[c].checks)
            for c in dists
            if c in checks
        ),
        classes=tuple(str(c) for c in classes),
        skipped=tuple(skipped),
        live_rows=live_rows,
    )


def _prediction_distribution(predictions: Any, task: str) -> Distribution | None:
    import numpy as np

    if predictions is None:
        return None
    arr = np.asarray(predictions)
    if task == "classification":  # class labels are not personal data: keep every class
        return categorical_distribution(arr, min_count=1)
    return numeric_distribution(arr.astype("float64"))


def for_release(
    spec: Any, outputs: Mapping[str, Any], test_metrics: Mapping[str, Any]
) -> Reference:
    """The reference of a run's winner: training rows of the split, predictions on the test
    rows, the run's test metrics and the recipe's schema (``engine.run.release`` calls
    this)."""
    frame = outputs["data"].frame
    features = list(outputs["features"])
    split = outputs["split"]
    train = frame.iloc[split.train] if getattr(split, "train", None) is not None else frame
    test = frame.iloc[split.test][features]
    estimator = outputs["model"]
    return build_reference(
        train,
        features,
        estimator.predict(test) if len(test) else None,
        dict(test_metrics or {}),
        spec.schema,
        task=spec.task,
        classes=list(getattr(estimator, "classes_", [])),
        pii=tuple(spec.data.pii),
        seed=spec.seed,
        live_rows=spec.monitor.live_rows,
    )


def save(reference: Reference, directory: str | Path) -> Path:
    """Write the reference (sealed when encryption at rest is on: it holds category levels)."""
    path = Path(directory) / REFERENCE_FILE
    path.write_bytes(at_rest.seal(reference.to_json().encode()))
    return path


def load(path: str | Path) -> Reference:
    return Reference.from_json(at_rest.read_sealed(path).decode())
