"""Holdout splits and cross-validation folds, as row positions.

Everything here returns positions (``iloc``) into the frame it was given, never labels,
so the plan can pass small integer arrays between steps instead of frames. Splitters are
scikit-learn's (:func:`make_cv_splitter` returns the very object used), which is what
makes Sous's CV numbers identical to ``sklearn.model_selection.cross_validate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import UserError
from engine.specs import CVSpec, SplitSpec

if TYPE_CHECKING:
    import pandas as pd

SPLIT_KINDS = ("random", "stratified", "group", "time")
CV_KINDS = ("kfold", "stratified_kfold", "group_kfold", "time_series")


@dataclass(frozen=True, eq=False)
class Holdout:
    """Row positions of the three parts. ``valid`` is empty when ``valid_size`` is 0; rows
    in the ``gap`` of a time split belong to no part. Positions are sorted, except for a
    time split, where each part is in time order."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def _check_sizes(spec: SplitSpec) -> None:
    for key in ("test_size", "valid_size"):
        v = getattr(spec, key)
        if not isinstance(v, int | float) or not 0 <= v < 1:
            raise UserError(
                f"split.{key} must be a fraction in [0, 1), got {v!r}",
                key_path=f"split.{key}",
                hint=f"e.g. split.{key}=0.2",
            )
    if spec.test_size + spec.valid_size >= 1:
        raise UserError(
            f"split.test_size + split.valid_size must be < 1, got "
            f"{spec.test_size} + {spec.valid_size}",
            key_path="split.test_size",
            hint="leave some rows for training, e.g. test_size=0.2 valid_size=0.1",
        )
    if spec.gap < 0:
        raise UserError(f"split.gap must be >= 0, got {spec.gap}", key_path="split.gap")


def _column(frame: pd.DataFrame, name: str | None, key_path: str, kind: str) -> pd.Series:
    if not name:
        raise UserError(
            f"{key_path} is required for a {kind!r} split",
            key_path=key_path,
            hint=f"name the column, e.g. {key_path}=customer_id",
        )
    if name not in frame.columns:
        raise UserError(
            f"{key_path}: no column {name!r} in the data (columns: {list(frame.columns)})",
            key_path=key_path,
        )
    return frame[name]


def stratify_labels(y: Any, task: str, n_bins: int = 10) -> np.ndarray:
    """Labels to stratify on: the classes, or quantile bins of a regression target (so a
    ``stratified`` default also works for regression)."""
    import pandas as pd

    if task == "classification":
        return np.asarray(y)
    y = pd.Series(np.asarray(y))
    bins = pd.qcut(y.rank(method="first"), q=min(n_bins, max(len(y) // 2, 1)), labels=False)
    return np.asarray(bins)


def holdout(frame: pd.DataFrame, *, target: str, task: str, spec: SplitSpec, seed: int) -> Holdout:
    """Split rows into train / valid / test by ``spec.kind``."""
    _check_sizes(spec)
    n = len(frame)
    pos = np.arange(n)
    if spec.kind == "time":
        return _time_holdout(frame, spec)
    if spec.kind not in SPLIT_KINDS:
        raise UserError(
            f"split.kind: unknown kind {spec.kind!r} (expected one of {list(SPLIT_KINDS)})",
            key_path="split.kind",
        )
    groups = None
    if spec.kind == "group":
        groups = _column(frame, spec.group, "split.group", "group").to_numpy()
    strat = stratify_labels(frame[target], task) if spec.kind == "stratified" else None
    rest, test = _cut(pos, spec.test_size, seed, strat, groups)
    if spec.valid_size == 0:
        return Holdout(np.sort(rest), np.array([], dtype=int), np.sort(test))
    frac = spec.valid_size / (1 - spec.test_size)
    sub_strat = None if strat is None else strat[rest]
    sub_groups = None if groups is None else groups[rest]
    train, valid = _cut(rest, frac, seed + 1, sub_strat, sub_groups)
    return Holdout(np.sort(train), np.sort(valid), np.sort(test))


def _cut(
    pos: np.ndarray, frac: float, seed: int, strat: np.ndarray | None, groups: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, cut) with ``frac`` of the rows (or of the groups) in ``cut``."""
    if frac == 0:
        return pos, np.array([], dtype=int)
    if groups is not None:
        from sklearn.model_selection import GroupShuffleSplit

        splitter = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
        keep, cut = next(splitter.split(pos, groups=groups))
        return pos[keep], pos[cut]
    from sklearn.model_selection import train_test_split

    try:
        keep, cut = train_test_split(pos, test_size=frac, random_state=seed, stratify=strat)
    except ValueError as exc:
        raise UserError(
            f"split: cannot stratify: {exc}",
            key_path="split.kind",
            hint="use split.kind=random, or more data for the rarest class",
        ) from None
    return np.asarray(keep), np.asarray(cut)


def _time_holdout(frame: pd.DataFrame, spec: SplitSpec) -> Holdout:
    """Oldest rows train, then valid, then test; ``gap`` rows dropped before each later
    part so that features computed over a window cannot see the future."""
    col = _column(frame, spec.time, "split.time", "time")
    order = np.argsort(col.to_numpy(), kind="stable")
    n = len(order)
    n_test = round(n * spec.test_size)
    n_valid = round(n * spec.valid_size)
    gaps = spec.gap * ((n_test > 0) + (n_valid > 0))
    n_train = n - n_test - n_valid - gaps
    if n_train <= 0:
        raise UserError(
            f"split: a time split of {n} rows leaves no training rows "
            f"(test {n_test}, valid {n_valid}, gaps {gaps})",
            key_path="split.gap",
            hint="lower split.gap, test_size or valid_size",
        )
    train = order[:n_train]
    start = n_train + (spec.gap if n_valid else 0)
    valid = order[start : start + n_valid]
    start += n_valid + (spec.gap if n_test else 0)
    test = order[start : start + n_test]
    # time order, not position order: ``time_series`` CV over ``train`` then follows time
    return Holdout(train, valid, test)


def make_cv_splitter(spec: CVSpec, seed: int) -> Any:
    """The scikit-learn splitter for ``spec`` (the same object ``cross_validate`` takes)."""
    from sklearn import model_selection as ms

    if not isinstance(spec.folds, int) or spec.folds < 2:
        raise UserError(f"cv.folds must be an int >= 2, got {spec.folds!r}", key_path="cv.folds")
    rs = seed if spec.shuffle else None
    if spec.kind == "kfold":
        return ms.KFold(n_splits=spec.folds, shuffle=spec.shuffle, random_state=rs)
    if spec.kind == "stratified_kfold":
        return ms.StratifiedKFold(n_splits=spec.folds, shuffle=spec.shuffle, random_state=rs)
    if spec.kind == "group_kfold":
        return ms.GroupKFold(n_splits=spec.folds, shuffle=spec.shuffle, random_state=rs)
    if spec.kind == "time_series":
        return ms.TimeSeriesSplit(n_splits=spec.folds)
    raise UserError(
        f"cv.kind: unknown kind {spec.kind!r} (expected one of {list(CV_KINDS)})",
        key_path="cv.kind",
    )


def cv_folds(
    frame: pd.DataFrame,
    idx: np.ndarray,
    *,
    target: str,
    task: str,
    spec: CVSpec,
    seed: int,
    time: str | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """CV folds over ``frame.iloc[idx]`` as (train, valid) positions into ``frame``.

    ``time_series`` folds follow the order of ``time`` (a column) when given, else row
    order. A stratified CV on a regression target stratifies on quantile bins.
    """
    idx = np.asarray(idx, dtype=int)
    if spec.kind == "time_series" and time is not None:
        col = _column(frame, time, "split.time", "time_series cv")
        idx = idx[np.argsort(col.iloc[idx].to_numpy(), kind="stable")]
    splitter = make_cv_splitter(spec, seed)
    sub = frame.iloc[idx]
    y = sub[target].to_numpy()
    if spec.kind == "stratified_kfold":
        y = stratify_labels(y, task)
    groups = None
    if spec.kind == "group_kfold":
        groups = _column(sub, spec.group, "cv.group", "group_kfold").to_numpy()
    try:
        parts = list(splitter.split(np.zeros((len(idx), 1)), y, groups))
    except ValueError as exc:
        raise UserError(
            f"cv: cannot make {spec.folds} {spec.kind} folds of {len(idx)} rows: {exc}",
            key_path="cv.folds",
            hint="lower cv.folds or use another cv.kind",
        ) from None
    return tuple((idx[tr], idx[va]) for tr, va in parts)
