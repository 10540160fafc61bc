"""Holdout splits and CV folds: partitions, determinism, time order, groups, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import UserError
from engine.specs import CVSpec, SplitSpec
from engine.splits import cv_folds, holdout, make_cv_splitter

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _frame(n: int, n_groups: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": rng.integers(0, n_groups, n),
            "t": rng.permutation(n),
            "y": np.arange(n) % 2,  # both classes with >= n//2 rows each
        }
    )


@SETTINGS
@given(
    n=st.integers(40, 200),
    kind=st.sampled_from(["random", "stratified", "group", "time"]),
    test=st.floats(0.1, 0.4),
    valid=st.sampled_from([0.0, 0.1, 0.2]),
    gap=st.integers(0, 3),
    seed=st.integers(0, 10_000),
)
def test_holdout_partitions_rows(n, kind, test, valid, gap, seed):
    frame = _frame(n, n_groups=12, seed=seed)
    spec = SplitSpec(kind=kind, test_size=test, valid_size=valid, group="g", time="t", gap=gap)
    h = holdout(frame, target="y", task="classification", spec=spec, seed=seed)
    parts = [h.train, h.valid, h.test]
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(joined), "parts overlap"
    dropped = n - len(joined)
    expected_gaps = gap * ((len(h.test) > 0) + (len(h.valid) > 0)) if kind == "time" else 0
    assert dropped == expected_gaps
    assert len(h.train) > 0 and len(h.test) > 0
    if valid == 0:
        assert len(h.valid) == 0
    again = holdout(frame, target="y", task="classification", spec=spec, seed=seed)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(parts, [again.train, again.valid, again.test], strict=True)
    )
    if kind == "group":
        groups = [set(frame["g"].iloc[p]) for p in parts]
        assert (
            not (groups[0] & groups[1])
            and not (groups[0] & groups[2])
            and not (groups[1] & groups[2])
        )
    if kind == "time":
        t = frame["t"].to_numpy()
        later = [p for p in (h.valid, h.test) if len(p)]
        assert all(t[h.train].max() < t[p].min() for p in later)
        if len(h.valid):
            assert t[h.valid].max() < t[h.test].min()


@SETTINGS
@given(
    n=st.integers(30, 150),
    kind=st.sampled_from(["kfold", "stratified_kfold", "group_kfold"]),
    k=st.integers(2, 5),
    seed=st.integers(0, 10_000),
    offset=st.integers(0, 20),
)
def test_kfold_folds_cover_rows_once(n, kind, k, seed, offset):
    frame = _frame(n + offset, n_groups=10, seed=seed)
    idx = np.arange(offset, n + offset)  # a subset of the rows: positions must index the frame
    spec = CVSpec(kind=kind, folds=k, group="g")
    fs = cv_folds(frame, idx, target="y", task="classification", spec=spec, seed=seed)
    assert len(fs) == k
    valid_all = np.concatenate([va for _, va in fs])
    assert sorted(valid_all) == list(idx), "every row is validation exactly once"
    for tr, va in fs:
        assert not set(tr) & set(va)
        assert sorted(np.concatenate([tr, va])) == list(idx)
        if kind == "group_kfold":
            assert not set(frame["g"].iloc[tr]) & set(frame["g"].iloc[va])
    again = cv_folds(frame, idx, target="y", task="classification", spec=spec, seed=seed)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(fs, again, strict=True))


@SETTINGS
@given(n=st.integers(30, 120), k=st.integers(2, 5), seed=st.integers(0, 1000))
def test_time_series_folds_respect_time(n, k, seed):
    frame = _frame(n, n_groups=5, seed=seed)
    idx = np.arange(n)
    fs = cv_folds(
        frame,
        idx,
        target="y",
        task="classification",
        spec=CVSpec(kind="time_series", folds=k),
        seed=seed,
        time="t",
    )
    t = frame["t"].to_numpy()
    seen: set[int] = set()
    for tr, va in fs:
        assert t[tr].max() < t[va].min(), "training rows are all older than validation rows"
        assert not seen & set(va)
        seen |= set(va)


def test_kfold_seed_changes_folds():
    frame = _frame(100, 5, 0)
    spec = CVSpec(kind="kfold", folds=4)
    a = cv_folds(frame, np.arange(100), target="y", task="classification", spec=spec, seed=1)
    b = cv_folds(frame, np.arange(100), target="y", task="classification", spec=spec, seed=2)
    assert not np.array_equal(a[0][1], b[0][1])


def test_stratified_holdout_keeps_class_shares(frame_factory):
    frame = frame_factory(1000, rare=0.05)
    h = holdout(frame, target="y", task="classification", spec=SplitSpec(kind="stratified"), seed=3)
    share = frame["y"].mean()
    for part in (h.train, h.valid, h.test):
        assert abs(frame["y"].iloc[part].mean() - share) < 0.01


def test_stratified_regression_uses_quantile_bins(frame):
    h = holdout(
        frame, target="amount", task="regression", spec=SplitSpec(kind="stratified"), seed=0
    )
    assert len(h.train) + len(h.valid) + len(h.test) == len(frame)
    # bins keep the test target's median close to the overall median
    assert abs(frame["amount"].iloc[h.test].median() - frame["amount"].median()) < 0.5


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        pytest.param("kfold", "KFold", id="kfold"),
        pytest.param("stratified_kfold", "StratifiedKFold", id="stratified"),
        pytest.param("group_kfold", "GroupKFold", id="group"),
        pytest.param("time_series", "TimeSeriesSplit", id="time"),
    ],
)
def test_make_cv_splitter(kind, cls):
    splitter = make_cv_splitter(CVSpec(kind=kind, folds=3), seed=4)
    assert type(splitter).__name__ == cls
    assert splitter.get_n_splits() == 3


@pytest.mark.parametrize(
    ("spec", "key_path"),
    [
        pytest.param(SplitSpec(kind="banana"), "split.kind", id="unknown-kind"),
        pytest.param(SplitSpec(test_size=1.5), "split.test_size", id="test-size-range"),
        pytest.param(SplitSpec(test_size=0.6, valid_size=0.5), "split.test_size", id="sum-too-big"),
        pytest.param(SplitSpec(kind="group"), "split.group", id="group-missing"),
        pytest.param(SplitSpec(kind="group", group="nope"), "split.group", id="group-unknown"),
        pytest.param(SplitSpec(kind="time"), "split.time", id="time-missing"),
        pytest.param(SplitSpec(kind="time", time="t", gap=500), "split.gap", id="gap-too-big"),
        pytest.param(SplitSpec(kind="random", gap=-1), "split.gap", id="negative-gap"),
    ],
)
def test_bad_split_specs(spec, key_path):
    with pytest.raises(UserError) as err:
        holdout(_frame(50, 5, 0), target="y", task="classification", spec=spec, seed=0)
    assert err.value.key_path == key_path


def test_stratify_impossible_is_user_error():
    frame = pd.DataFrame({"x": range(20), "y": [0] * 19 + [1]})
    with pytest.raises(UserError) as err:
        holdout(frame, target="y", task="classification", spec=SplitSpec(), seed=0)
    assert err.value.key_path == "split.kind"


@pytest.mark.parametrize(
    ("spec", "key_path"),
    [
        pytest.param(CVSpec(kind="loo"), "cv.kind", id="unknown-kind"),
        pytest.param(CVSpec(folds=1), "cv.folds", id="one-fold"),
        pytest.param(CVSpec(kind="kfold", folds=80), "cv.folds", id="more-folds-than-rows"),
        pytest.param(CVSpec(kind="group_kfold"), "cv.group", id="group-missing"),
    ],
)
def test_bad_cv_specs(spec, key_path):
    with pytest.raises(UserError) as err:
        cv_folds(
            _frame(50, 5, 0), np.arange(50), target="y", task="classification", spec=spec, seed=0
        )
    assert err.value.key_path == key_path


def test_time_split_then_time_series_cv_follows_time_without_the_column():
    """A time split returns parts in time order, so time_series folds over its train part
    respect time even when the caller does not name the time column."""
    frame = _frame(120, 5, 1)
    spec = SplitSpec(kind="time", time="t", test_size=0.2, valid_size=0.1, gap=2)
    h = holdout(frame, target="y", task="classification", spec=spec, seed=0)
    t = frame["t"].to_numpy()
    assert list(t[h.train]) == sorted(t[h.train])
    fs = cv_folds(
        frame,
        h.train,
        target="y",
        task="classification",
        spec=CVSpec(kind="time_series", folds=3),
        seed=0,
    )
    assert all(t[tr].max() < t[va].min() for tr, va in fs)
