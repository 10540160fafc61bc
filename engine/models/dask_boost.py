"""What the Dask gradient-boosting adapters share (``kind: dask_xgboost``, ``dask_lightgbm``).

Both take rows as the last step of a Pipeline, hold out a validation split the same way,
encode class labels the same way, and cut in-memory rows into one block per worker before
handing them to the library's own Dask API. The libraries differ only in how they train,
what they keep and how they predict; that stays in each adapter.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

# One parquet file -> (features as float32 rows, labels as float32); runs on the workers.
Reader = Callable[[str], tuple[np.ndarray, np.ndarray]]
LABEL = "__sous_label__"  # the label column of a partition of :func:`load_partitions`


class _DaskBoostBase(BaseEstimator):
    """The scikit-learn side both adapters share: rows may be sparse (:func:`dense` makes
    them float32), and targets are float32 (a classifier encodes its labels first)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified to float32 for the library
        return tags

    def _targets(self, y: Any) -> np.ndarray:
        return np.asarray(y, dtype=np.float32)


def dense(x: Any) -> np.ndarray:
    """Rows as a float32 matrix (sparse one-hot output of the preprocessing densified)."""
    if hasattr(x, "toarray"):
        x = x.toarray()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def stratifiable(y: np.ndarray) -> bool:
    _, counts = np.unique(y, return_counts=True)
    return len(counts) > 1 and counts.min() >= 2


def holdout(
    y: np.ndarray, *, fraction: float, seed: int | None, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row positions to train on and to stop boosting early on: ``fraction`` of the
    rows, stratified on ``y`` when asked and possible."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    fit_rows, stop_rows = train_test_split(
        rows,
        test_size=fraction,
        random_state=seed,
        stratify=y if stratify and stratifiable(y) else None,
    )
    return np.sort(fit_rows), np.sort(stop_rows)


def encode_classes(estimator: Any, y: Any) -> np.ndarray:
    """Class codes 0..k-1 of ``y`` as float32; sets ``estimator.classes_``. Fewer than two
    classes is scikit-learn's usual error."""
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.multiclass import check_classification_targets

    check_classification_targets(y)
    encoder = LabelEncoder().fit(np.asarray(y))
    if len(encoder.classes_) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs samples of at least 2 classes in the data, "
            f"but the data contains only one class: {encoder.classes_[0]!r}"
        )
    estimator.classes_ = encoder.classes_
    return encoder.transform(np.asarray(y)).astype(np.float32)


def partitions(requested: int | None, workers: int, rows: int) -> int:
    """Row blocks for an in-memory fit: ``requested``, else one per worker; never more
    blocks than rows."""
    return max(1, min(requested or max(1, workers), rows))


def row_blocks(x: np.ndarray, y: np.ndarray, parts: int) -> tuple[Any, Any]:
    """``x`` and ``y`` as Dask arrays of ``parts`` row blocks (the same boundaries)."""
    import dask.array as da

    step = math.ceil(len(y) / parts)
    return da.from_array(x, chunks=(step, x.shape[1])), da.from_array(y, chunks=step)


def two_columns(raw: np.ndarray) -> np.ndarray:
    """Class probabilities: a binary model's one column (``classes_[1]``) made two."""
    if raw.ndim == 1:
        return np.column_stack([1.0 - raw, raw]).astype(float)
    return raw.astype(float)


def load_partitions(files: Sequence[str], read: Reader, width: int) -> tuple[Any, Any]:
    """``files`` as Dask collections (features, labels) the workers read themselves, one
    partition per file."""
    import dask.dataframe as dd
    import pandas as pd

    names = [f"f{i}" for i in range(width)]

    def partition(path: str) -> pd.DataFrame:
        x, y = read(path)
        out = pd.DataFrame(x, columns=names)
        out[LABEL] = y
        return out

    meta = pd.DataFrame({n: pd.Series(dtype="float32") for n in [*names, LABEL]})
    both = dd.from_map(partition, list(files), meta=meta)
    return both[names], both[LABEL]


@contextlib.contextmanager
def cluster_client() -> Iterator[Any]:
    """The client a fit that drives the cluster itself uses: inside a Dask task, the worker's,
    seceded from its pool (so the fit's own tasks can run on this worker's thread too); in a
    process holding a client, that client; else None (no cluster: train in-process)."""
    import distributed

    try:
        distributed.get_worker()
    except ValueError:  # not inside a task
        try:
            client = distributed.default_client()
        except ValueError:  # and no client in this process
            client = None
        yield client
        return
    with distributed.worker_client() as client:
        yield client
