"""Training steps: split, CV folds, fit+score, refit, evaluate. Plain and pure.

Rows travel as positions (``iloc``) into one frame, so a fold is two small arrays. Each
fit builds a fresh Pipeline (preprocessing + imbalance + estimator) and fits it on the
training rows only: nothing learned from validation or test rows can leak into a score.
"""

from __future__ import annotations

import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import metrics as _metrics
from engine import splits as _splits
from engine.curves import ClassifierCurves, classifier_curves
from engine.models.build import estimator_for
from engine.models.predict import predict_with_proba
from engine.specs import CVSpec, ImbalanceSpec, ModelSpec, PreprocessSpec, SplitSpec
from engine.splits import Holdout
from engine.steps.scale import fit_partitioned, partitions_of, rows_of, score_partitioned

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Evaluation",
    "FitResult",
    "Holdout",
    "evaluate",
    "fit_score",
    "folds",
    "refit",
    "split",
    "summarize",
]


@dataclass(frozen=True)
class FitResult:
    """Scores of one (model, params, fold) fit. ``intermediate``: per-epoch validation
    losses for models that report them (Lightning), for pruning."""

    metrics: Mapping[str, float]
    n_train: int
    n_valid: int
    fit_s: float
    intermediate: tuple[float, ...] = ()
    model: Any = None  # the fitted Pipeline, kept only when a larger trial grows from it

    def for_cache(self) -> FitResult:
        """The scores without the fitted model: fold models live in worker memory only,
        for the larger trials that grow from them; the cache never fills with them."""
        import dataclasses

        return dataclasses.replace(self, model=None)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A fitted model scored once on a set of rows, with what the report needs.
    ``y_score`` is the (n, k) probability matrix (columns follow ``labels``) or None."""

    task: str
    metrics: Mapping[str, float]
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None
    labels: tuple[Any, ...]
    per_class_f1: Mapping[str, float]
    feature_importance: Mapping[str, float] | None
    title: str = "evaluation"
    # per-epoch losses the model kept ({"train": [...], "validation": [...]}), for the report
    losses: Mapping[str, tuple[float, ...]] | None = None
    # a classifier's confusion matrix and curves, computed where it was scored: the report
    # and the UI draw them without scikit-learn (engine.curves)
    curves: ClassifierCurves | None = None

    def artifacts(self) -> dict[str, object]:
        from engine.report import render_report

        return {"report.html": render_report(self)}


def split(frame: pd.DataFrame, *, target: str, task: str, spec: SplitSpec, seed: int) -> Holdout:
    """Train / valid / test row positions (see :mod:`engine.splits`)."""
    return _splits.holdout(frame, target=target, task=task, spec=spec, seed=seed)


def folds(
    frame: pd.DataFrame,
    idx: np.ndarray,
    *,
    target: str,
    task: str,
    spec: CVSpec,
    seed: int,
    time: str | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """CV folds over ``frame.iloc[idx]``; positions index ``frame``. ``time`` orders
    ``time_series`` folds (pass ``split.time`` for time-split recipes)."""
    return _splits.cv_folds(frame, idx, target=target, task=task, spec=spec, seed=seed, time=time)


def _features(frame: pd.DataFrame, features: Sequence[str], target: str) -> list[str]:
    """The feature columns: as given, or every column but the target when empty."""
    from engine.errors import UserError

    cols = list(features) or [c for c in frame.columns if c != target]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise UserError(
            f"data.features: no column(s) {missing} in the data (columns: {list(frame.columns)})",
            key_path="data.features",
        )
    return cols


def _rows(frame: pd.DataFrame, cols: Sequence[str], idx: np.ndarray) -> pd.DataFrame:
    """``frame[cols].iloc[idx]`` in one take (``frame[cols]`` first copied every row of
    every column: a whole-frame copy per fit and per scored fold)."""
    if not frame.columns.is_unique:
        return frame[list(cols)].iloc[idx]
    return frame.iloc[idx, frame.columns.get_indexer(cols)]


def _predict(estimator: Any, x: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray | None]:
    return predict_with_proba(estimator, x, task)


def _labels(estimator: Any, task: str) -> tuple[Any, ...]:
    return tuple(estimator.classes_) if task == "classification" else ()


def fit_score(
    frame: pd.DataFrame,
    train_idx: np.ndarray,
    valid_idx: np.ndarray,
    *,
    target: str,
    task: str,
    model: ModelSpec,
    params: Mapping[str, Any],
    preprocess: PreprocessSpec,
    imbalance: ImbalanceSpec,
    features: Sequence[str],
    seed: int,
    grow_from: FitResult | None = None,
    keep_model: bool = False,
    metrics: Sequence[str] = (),
) -> FitResult:
    """Fit a fresh Pipeline on the training rows, score it on the validation rows.
    ``params`` (a trial's) override ``model.params``. ``grow_from``: the same fold's fit of a
    smaller ensemble that this trial only adds members to (see :mod:`engine.models.growth`);
    without its model (it came from the cache) the fit starts from scratch, with the same
    result. ``keep_model``: return the fitted Pipeline too, for the trials that grow from it.
    ``metrics``: scikit-learn scorer names scored too, from the same predictions (the plan
    passes them only when the recipe names some, so other fits keep their keys)."""
    cols = _features(frame, features, target)
    root = partitions_of(frame, model)
    if root is not None:  # trains on an out-of-core dataset's partitions (steps/scale.py)
        return _fit_score_partitioned(
            root, frame, train_idx, cols, target=target, task=task, model=model,
            params=params, preprocess=preprocess, imbalance=imbalance, seed=seed,
        )  # fmt: skip
    y = frame[target].to_numpy()
    start = _time.perf_counter()
    if grow_from is None or grow_from.model is None:  # no parent, or one read from the cache
        est = refit(
            frame,
            train_idx,
            target=target,
            task=task,
            model=model,
            params=params,
            preprocess=preprocess,
            imbalance=imbalance,
            features=features,
            seed=seed,
        )
    else:
        from engine.models.growth import grow

        est = grow(grow_from.model, model, params, _rows(frame, cols, train_idx), y[train_idx])
    fit_s = _time.perf_counter() - start
    y_pred, proba = _predict(est, _rows(frame, cols, valid_idx), task)
    labels = _labels(est, task)
    scores = _metrics.score(task, y[valid_idx], y_pred, proba, labels, extra=metrics)
    losses = tuple(float(v) for v in getattr(est[-1], "val_losses_", ()))
    kept = est if keep_model else None
    return FitResult(scores, len(train_idx), len(valid_idx), fit_s, losses, kept)


def _fit_score_partitioned(
    root: Any, frame: pd.DataFrame, train_idx: np.ndarray, cols: Sequence[str], **kw: Any
) -> FitResult:
    """A trial's fit on every train partition, scored on every valid row."""
    start = _time.perf_counter()
    est = fit_partitioned(root, frame, train_idx, cols, **kw)
    fit_s = _time.perf_counter() - start
    scores, n_valid = score_partitioned(est, root, cols, target=kw["target"], task=kw["task"])
    return FitResult(scores, rows_of(root, "train"), n_valid, fit_s)


def refit(
    frame: pd.DataFrame,
    idx: np.ndarray,
    *,
    target: str,
    task: str,
    model: ModelSpec,
    params: Mapping[str, Any],
    preprocess: PreprocessSpec,
    imbalance: ImbalanceSpec,
    features: Sequence[str],
    seed: int,
    cores: int = 1,
) -> Any:
    """The fitted Pipeline (preprocessing included) on rows ``idx``: what gets served.
    ``cores``: threads a forest may build its trees on (the result is the same)."""
    from engine.models.parallel import fit_on_cores

    cols = _features(frame, features, target)
    root = partitions_of(frame, model)
    if root is not None:  # trains on an out-of-core dataset's partitions (steps/scale.py)
        return fit_partitioned(
            root, frame, idx, cols, target=target, task=task, model=model, params=params,
            preprocess=preprocess, imbalance=imbalance, seed=seed,
        )  # fmt: skip
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
    return fit_on_cores(est, _rows(frame, cols, idx), frame[target].to_numpy()[idx], cores)


def evaluate(
    estimator: Any,
    frame: pd.DataFrame,
    idx: np.ndarray,
    *,
    target: str,
    task: str,
    features: Sequence[str],
    title: str = "evaluation",
    metrics: Sequence[str] = (),
) -> Evaluation:
    """Score a fitted model once on rows ``idx`` (the untouched test split); ``metrics``:
    scikit-learn scorer names scored too (see :func:`fit_score`)."""
    cols = _features(frame, features, target)
    y_true = frame[target].to_numpy()[idx]
    y_pred, proba = _predict(estimator, _rows(frame, cols, idx), task)
    labels = _labels(estimator, task)
    scores = _metrics.score(task, y_true, y_pred, proba, labels, extra=metrics)
    per_class = _metrics.per_class_f1(y_true, y_pred, labels) if labels else {}
    drawn = classifier_curves(y_true, y_pred, proba, labels) if task == "classification" else None
    return Evaluation(
        task, scores, y_true, y_pred, proba, labels, per_class, feature_importance(estimator), title,
        training_losses(estimator), drawn,
    )  # fmt: skip


def training_losses(estimator: Any) -> dict[str, tuple[float, ...]] | None:
    """Per-epoch losses the fitted model kept: a Lightning MLP's ``train_losses_`` and
    ``val_losses_``, scikit-learn's ``loss_curve_``; None when it kept none."""
    last = estimator[-1] if hasattr(estimator, "steps") else estimator
    found = {
        name: tuple(float(v) for v in getattr(last, attr))
        for name, attr in (
            ("train", "train_losses_"),
            ("validation", "val_losses_"),
            ("train", "loss_curve_"),
        )
        if getattr(last, attr, None) is not None and len(getattr(last, attr))
    }
    return found or None


def feature_importance(estimator: Any) -> dict[str, float] | None:
    """Importances (``feature_importances_``, or |coef| averaged over classes) keyed by
    the names the preprocessing produces; None when the model has neither."""
    last = estimator[-1] if hasattr(estimator, "steps") else estimator
    values = getattr(last, "feature_importances_", None)
    if values is None and getattr(last, "coef_", None) is not None:
        coef = np.abs(np.asarray(last.coef_, dtype=float))
        values = coef.mean(axis=0) if coef.ndim == 2 else coef
    if values is None:
        return None
    values = np.ravel(np.asarray(values, dtype=float))
    names = _output_names(estimator)
    if names is None or len(names) != len(values):
        names = [f"x{i}" for i in range(len(values))]
    return {str(n): float(v) for n, v in zip(names, values, strict=True)}


def _output_names(estimator: Any) -> list[str] | None:
    """Feature names after the transform steps (samplers change rows, not columns)."""
    if not hasattr(estimator, "steps"):
        return None
    names = None
    try:
        for name, step in estimator.steps[:-1]:
            if name != "resample":
                names = step.get_feature_names_out(names)
    except (AttributeError, ValueError, TypeError):
        return None
    return None if names is None else [str(n) for n in names]


def summarize(results: Sequence[FitResult]) -> dict[str, float]:
    """Aggregate per-fold metrics: ``<metric>_mean`` and ``<metric>_std`` (population)."""
    out: dict[str, float] = {}
    names = [n for n in results[0].metrics] if results else []
    for name in names:
        vals = np.array([r.metrics.get(name, np.nan) for r in results], dtype=float)
        out[f"{name}_mean"] = float(vals.mean())
        out[f"{name}_std"] = float(vals.std())
    return out
