"""Live metrics from feedback labels, next to the test metrics, and the worst slices.

Segments are named only by what the reference already holds (a frequent category, or a
decile of a numeric feature), so a slice never prints a raw value a client sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.drift import stats
from engine.drift.reference import Distribution, Reference
from engine.monitor.scan import Window, batches

MIN_SLICE_ROWS = 10
TOP_SLICES = 10


@dataclass(frozen=True)
class Slice:
    feature: str
    segment: str
    rows: int
    metric: str
    value: float

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "segment": self.segment,
            "rows": self.rows,
            "metric": self.metric,
            "value": round(self.value, 6),
        }


@dataclass(frozen=True)
class Performance:
    """Metrics on the labelled rows (``live``) against the version's test metrics."""

    labelled: int
    live: Mapping[str, float]
    test: Mapping[str, float]
    drops: Mapping[str, float]  # how much worse live is than test (positive: worse)
    slices: tuple[Slice, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "live": {k: _round(v) for k, v in self.live.items()},
            "test": {k: _round(v) for k, v in self.test.items()},
            "drops": {k: _round(v) for k, v in self.drops.items()},
        }


def _round(v: float) -> float | None:
    return None if v != v else round(v, 6)


def labelled_rows(
    log_dir: Path, window: Window, labels: Mapping[str, Any], columns: Sequence[str]
) -> Any:
    """The logged rows of ``window`` that have a label, as a DataFrame with ``_label``."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(list(labels), pa.string())
    parts = []
    cols = ["_request_id", "_prediction", "_probabilities", *columns]
    for batch in batches(log_dir, window, cols):
        if "_request_id" not in batch.schema.names:
            continue
        mask = pc.is_in(batch.column("_request_id").cast(pa.string()), value_set=ids)
        picked = batch.filter(mask)
        if picked.num_rows:
            parts.append(picked.to_pandas())
    if not parts:
        return pd.DataFrame(columns=[*cols, "_label"])
    frame = pd.concat(parts, ignore_index=True).drop_duplicates("_request_id", keep="last")
    frame["_label"] = [labels[r] for r in frame["_request_id"]]
    return frame


def _targets(frame: Any, reference: Reference) -> tuple[list[Any], list[Any], Any]:
    """(y_true, y_pred, y_score or None) in the metric registry's terms."""
    import numpy as np

    preds = [json.loads(p) for p in frame["_prediction"]]
    if reference.task != "classification":
        return [float(v) for v in frame["_label"]], [float(p) for p in preds], None
    y_true = [str(v) for v in frame["_label"]]
    y_pred = [str(p) for p in preds]
    probs = frame.get("_probabilities")
    if probs is None or probs.isna().any() or not reference.classes:
        return y_true, y_pred, None
    rows = [json.loads(p) for p in probs]
    return y_true, y_pred, np.array([[r.get(c, 0.0) for c in reference.classes] for r in rows])


def evaluate(
    frame: Any, reference: Reference, *, slices: bool = False, min_rows: int = MIN_SLICE_ROWS
) -> Performance | None:
    """Live metrics of the labelled rows (None without any)."""
    from engine.metrics import greater_is_better, score

    if not len(frame):
        return None
    y_true, y_pred, y_score = _targets(frame, reference)
    labels = reference.classes or None
    if labels is not None and not set(y_true) <= set(labels):
        labels = tuple(sorted(set(labels) | set(y_true)))
        y_score = None  # probabilities do not cover a class the model never saw
    live = score(reference.task, y_true, y_pred, y_score, labels)
    drops = {}
    for name, test in reference.metrics.items():
        if name in live and not math.isnan(live[name]):
            drops[name] = (test - live[name]) if greater_is_better(name) else (live[name] - test)
    found = _slices(frame, reference, y_true, y_pred, min_rows) if slices else ()
    return Performance(len(frame), live, dict(reference.metrics), drops, found)


def _segments(values: Any, dist: Distribution) -> list[str]:
    """Each value's segment, named from the reference only (never the raw value)."""
    import numpy as np

    if dist.kind == "categorical":
        known = set(dist.categories)
        return ["missing" if v is None or v != v else (str(v) if str(v) in known else "other")
                for v in values]  # fmt: skip
    groups = stats.coarse_groups(list(dist.counts))
    edges = list(dist.edges)
    names, cuts = [], []
    for a, b in groups:
        lo = "-inf" if a == 0 else f"{edges[a - 1]:.4g}"
        hi = "inf" if b > len(edges) else f"{edges[b - 1]:.4g}"
        names.append(f"({lo}, {hi}]")
        cuts.append(b)
    arr = np.asarray(values, dtype="float64")
    fine = np.searchsorted(np.asarray(edges), arr, side="left")
    which = np.searchsorted(np.asarray(cuts), fine, side="right")
    return ["missing" if math.isnan(v) else names[min(w, len(names) - 1)]
            for v, w in zip(arr, which, strict=True)]  # fmt: skip


def _slices(
    frame: Any, reference: Reference, y_true: list[Any], y_pred: list[Any], min_rows: int
) -> tuple[Slice, ...]:
    import numpy as np

    classification = reference.task == "classification"
    metric = "accuracy" if classification else "mae"
    if classification:
        err = np.array([t == p for t, p in zip(y_true, y_pred, strict=True)], dtype=float)
    else:
        err = np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))
    found = []
    for name, dist in reference.features.items():
        if name not in frame:
            continue
        segs = np.asarray(_segments(frame[name].tolist(), dist), dtype=object)
        for seg in dict.fromkeys(segs.tolist()):
            mask = segs == seg
            if int(mask.sum()) >= min_rows:
                found.append(
                    Slice(name, str(seg), int(mask.sum()), metric, float(err[mask].mean()))
                )
    found.sort(key=lambda s: s.value if classification else -s.value)
    return tuple(found[:TOP_SLICES])
