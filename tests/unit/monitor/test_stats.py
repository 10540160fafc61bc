"""The drift statistics on binned counts agree with scipy on raw samples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.drift import stats


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    assert stats.psi([10, 20, 30], [20, 40, 60]) == pytest.approx(0.0)
    small = stats.psi([25, 25, 25, 25], [30, 25, 25, 20])
    big = stats.psi([25, 25, 25, 25], [70, 10, 10, 10])
    assert 0 < small < 0.1 < big


def test_binned_ks_matches_scipy_on_fine_bins() -> None:
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 3000), rng.normal(0.3, 1, 800)
    edges = np.unique(np.quantile(a, np.linspace(0.001, 0.999, 999)))
    ca = np.bincount(np.searchsorted(edges, a), minlength=len(edges) + 1)
    cb = np.bincount(np.searchsorted(edges, b), minlength=len(edges) + 1)
    d, p = stats.ks_binned(ca.tolist(), cb.tolist())
    exact = ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(exact.statistic, abs=0.005)
    assert d <= exact.statistic + 1e-12  # evaluated at fewer points: never larger
    assert p == pytest.approx(exact.pvalue, rel=0.5)


def test_chi_square_matches_scipy_when_no_category_is_empty() -> None:
    from scipy.stats import chisquare

    ref, live = [600, 300, 100], [50, 40, 10]
    stat, p = stats.chi_square(ref, live)
    expected = np.array([600.5, 300.5, 100.5]) / 1001.5 * 100
    want = chisquare(live, expected)
    assert stat == pytest.approx(want.statistic) and p == pytest.approx(want.pvalue)


def test_coarse_groups_partition_the_bins_in_order() -> None:
    groups = stats.coarse_groups([1] * 100, 10)
    assert len(groups) == 10 and groups[0][0] == 0 and groups[-1][1] == 100
    assert all(a[1] == b[0] for a, b in itertools.pairwise(groups))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=120))
def test_groups_cover_every_bin_once(counts: list[int]) -> None:
    groups = stats.coarse_groups(counts)
    covered = [i for a, b in groups for i in range(a, b)]
    assert covered == list(range(len(counts)))
    assert sum(stats.regroup(counts, groups)) == sum(counts)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=2, max_size=30))
def test_no_drift_against_itself(counts: list[int]) -> None:
    assert stats.psi(counts, counts) == pytest.approx(0.0, abs=1e-12)
    assert stats.ks_binned(counts, counts)[0] == pytest.approx(0.0, abs=1e-12)
    assert stats.chi_square(counts, counts)[1] > 0.5  # smoothing moves tiny counts a little
