"""Models trained on every row of an out-of-core dataset, not on its bounded sample.

With ``data.out_of_core`` the rows are split into train/valid/test parquet partitions and the
models usually train on a bounded in-memory sample (:mod:`engine.data.ooc_split`). The sample
frame names the partitioned dataset it was drawn from (:data:`ATTR`, set by
``steps.data.sample_out_of_core``). Models of the kinds in :data:`PARTITIONED_KINDS` then
train on the partitions themselves:

- ``dask_xgboost``: the workers read the train and valid partitions (``dask.dataframe``) and
  XGBoost trains across them, early stopping on the valid split;
- ``dask_lightgbm``: the same partitions through LightGBM's Dask estimators (no early stopping:
  LightGBM's Dask API has none);
- ``incremental``: ``partial_fit`` over the train partitions, one partition in memory at a time.

The preprocessing (imputation, scaling, encoding) is fitted on the sample's training rows,
then applied partition by partition. A trial is scored on every valid row, partition by
partition; the test step scores the sample's test rows, like any model of the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import metrics as _metrics
from engine.errors import UserError
from engine.models.build import estimator_for
from engine.models.predict import predict_with_proba
from engine.specs import ImbalanceSpec, ModelSpec, PreprocessSpec

if TYPE_CHECKING:
    import pandas as pd

ATTR = "sous_partitions"  # frame.attrs key: the root of the partitioned split it came from
PARTITIONED_KINDS = frozenset({"dask_xgboost", "dask_lightgbm", "incremental"})


def mark(frame: pd.DataFrame, root: str) -> pd.DataFrame:
    """Record on a sample frame where its partitioned dataset lives."""
    frame.attrs[ATTR] = str(root)
    return frame


def partitions_of(frame: Any, model: ModelSpec) -> Path | None:
    """The partitioned dataset ``model`` trains on, if it is one that trains on partitions
    and ``frame`` is a sample of one."""
    root = getattr(frame, "attrs", {}).get(ATTR)
    return Path(root) if root and model.kind in PARTITIONED_KINDS else None


def _files(root: Path, part: str) -> list[Path]:
    return sorted((root / part).glob("*.parquet"))


def _read(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=list(columns) if columns else None).to_pandas()


def _prepared(
    frame: pd.DataFrame,
    idx: np.ndarray,
    cols: Sequence[str],
    *,
    target: str,
    task: str,
    model: ModelSpec,
    params: Mapping[str, Any],
    preprocess: PreprocessSpec,
    imbalance: ImbalanceSpec,
    seed: int,
) -> Any:
    """The model's Pipeline with its preprocessing fitted on the sample's rows ``idx`` (the
    model itself still unfitted)."""
    from sklearn.pipeline import Pipeline

    est = estimator_for(
        frame,
        cols,
        task=task,
        model=model,
        params=params,
        preprocess=preprocess,
        imbalance=imbalance,
        seed=seed,
    )
    if "resample" in est.named_steps:
        raise UserError(
            f"models.{model.name}: imbalance resampling cannot run on out-of-core partitions",
            key_path=f"models.{model.name}.imbalance",
            hint="set imbalance.strategy: none for this model, or train it on the sample "
            "with kind: sklearn",
        )
    Pipeline(est.steps[:-1]).fit(frame[list(cols)].iloc[idx], frame[target].to_numpy()[idx])
    return est


def _transform(pre: Any, part: pd.DataFrame) -> np.ndarray:
    out = pre.transform(part)
    return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=np.float32)


def _classes(root: Path, target: str, task: str) -> np.ndarray | None:
    """Every class of the train partitions (reads the target column only)."""
    if task != "classification":
        return None
    import pandas as pd

    seen = [pd.unique(_read(p, [target])[target]) for p in _files(root, "train")]
    return np.unique(np.concatenate(seen)) if seen else np.array([])


def _fit_boosting(est: Any, root: Path, cols: Sequence[str], target: str, task: str) -> None:
    """The boosting kinds on the train partitions, early stopping on the valid ones (where
    the library can): the workers read and transform the parquet files themselves, as
    external memory (XGBoost, when a worker could not hold its share) or as Dask partitions."""
    from engine.models.dask_boost import load_partitions

    pre, model = est[:-1], est[-1]
    classes = _classes(root, target, task)
    width = _transform(pre, _read(_files(root, "train")[0], cols).head(1)).shape[1]

    def read(path: str) -> tuple[np.ndarray, np.ndarray]:
        """One parquet file -> its transformed features and label codes (on a worker)."""
        part = _read(Path(path), [*cols, target])
        values = part[target].to_numpy()
        codes = np.searchsorted(classes, values) if classes is not None else values
        return _transform(pre, part[list(cols)]), np.asarray(codes, dtype=np.float32)

    train = [str(p) for p in _files(root, "train")]
    valid = [str(p) for p in _files(root, "valid")]
    if hasattr(model, "fit_files"):
        model.fit_files(train, valid, read, width=width, classes=classes)
        return
    x_train, y_train = load_partitions(train, read, width)
    stop = load_partitions(valid, read, width) if valid else None
    model.fit_partitioned(x_train, y_train, eval_set=stop, classes=classes)


def _fit_incremental(
    est: Any, root: Path, cols: Sequence[str], target: str, task: str, seed: int
) -> None:
    """``partial_fit`` over the train partitions, one file in memory at a time, in a seeded
    order per epoch."""
    pre, model = est[:-1], est[-1]
    files = _files(root, "train")

    def partitions(epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = np.random.default_rng([seed, epoch]).permutation(len(files))
        for i in order:
            part = _read(files[i], [*cols, target])
            yield _transform(pre, part[list(cols)]), part[target].to_numpy()

    model.fit_partitions(partitions, classes=_classes(root, target, task))


def fit_partitioned(
    root: Path,
    frame: pd.DataFrame,
    idx: np.ndarray,
    cols: Sequence[str],
    *,
    target: str,
    task: str,
    model: ModelSpec,
    params: Mapping[str, Any],
    preprocess: PreprocessSpec,
    imbalance: ImbalanceSpec,
    seed: int,
) -> Any:
    """The fitted Pipeline: preprocessing fitted on the sample rows ``idx``, the model on
    every train partition (see the module docstring)."""
    est = _prepared(
        frame,
        idx,
        cols,
        target=target,
        task=task,
        model=model,
        params=params,
        preprocess=preprocess,
        imbalance=imbalance,
        seed=seed,
    )
    if model.kind in ("dask_xgboost", "dask_lightgbm"):
        _fit_boosting(est, root, cols, target, task)
    else:
        _fit_incremental(est, root, cols, target, task, seed)
    return est


def score_partitioned(
    est: Any, root: Path, cols: Sequence[str], *, target: str, task: str
) -> tuple[dict[str, float], int]:
    """Metrics of ``est`` on every valid row, predicted one partition at a time, and the
    number of rows scored."""
    truth, predicted, probas = [], [], []
    for path in _files(root, "valid"):
        part = _read(path, [*cols, target])
        y_pred, proba = predict_with_proba(est, part[list(cols)], task)
        truth.append(part[target].to_numpy())
        predicted.append(y_pred)
        if proba is not None:
            probas.append(proba)
    if not truth:
        raise UserError(
            "out-of-core training needs a validation split to score on",
            key_path="split.valid_size",
            hint="set split.valid_size above 0",
        )
    y_true, y_pred = np.concatenate(truth), np.concatenate(predicted)
    proba = np.concatenate(probas) if probas else None
    labels = tuple(est.classes_) if task == "classification" else ()
    return dict(_metrics.score(task, y_true, y_pred, proba, labels)), len(y_true)


def rows_of(root: Path, part: str) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in _files(root, part))
