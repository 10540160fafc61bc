"""Drift statistics on binned counts: PSI, a two-sample KS test and a chi-square test.

Everything works on counts over the reference's bins, never on raw rows, so the live side
is a fixed-size array however many rows were logged (bounded memory, one pass). The KS
statistic is the largest gap between the two empirical CDFs evaluated at the bin edges; with
the reference's 99 quantile edges this is the exact statistic up to the resolution of a
percentile, and it is never larger than the exact one (the p-value errs on "no drift").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PSI_EPS = 1e-4  # an empty bin counts as this share: PSI stays finite


@dataclass(frozen=True)
class TestResult:
    """One drift test: the score (PSI) and the test's statistic and p-value."""

    score: float
    statistic: float
    pvalue: float
    method: str  # "ks" | "chi2"


def shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total for c in counts] if total > 0 else [0.0 for _ in counts]


def coarse_groups(ref_counts: Sequence[float], n_groups: int = 10) -> list[tuple[int, int]]:
    """Fine bins merged into about ``n_groups`` runs of roughly equal reference mass.

    PSI on 100 fine bins is noisy on a few hundred live rows (its expected value on equal
    distributions grows with the number of bins over the rows), so PSI uses deciles."""
    total = float(sum(ref_counts))
    if total <= 0 or len(ref_counts) <= n_groups:
        return [(i, i + 1) for i in range(len(ref_counts))]
    groups: list[tuple[int, int]] = []
    start, acc, target = 0, 0.0, total / n_groups
    for i, c in enumerate(ref_counts):
        acc += c
        if acc >= target * (len(groups) + 1) - 1e-9 and i + 1 < len(ref_counts):
            groups.append((start, i + 1))
            start = i + 1
    groups.append((start, len(ref_counts)))
    return [g for g in groups if g[1] > g[0]]


def regroup(counts: Sequence[float], groups: Sequence[tuple[int, int]]) -> list[float]:
    return [float(sum(counts[a:b])) for a, b in groups]


def psi(ref_counts: Sequence[float], live_counts: Sequence[float]) -> float:
    """Population stability index: sum over bins of (live - ref) * ln(live / ref)."""
    ref, live = shares(ref_counts), shares(live_counts)
    total = 0.0
    for r, q in zip(ref, live, strict=True):
        r, q = max(r, PSI_EPS), max(q, PSI_EPS)
        total += (q - r) * math.log(q / r)
    return total


def ks_binned(ref_counts: Sequence[float], live_counts: Sequence[float]) -> tuple[float, float]:
    """(D, p-value) of the two-sample KS test from counts on shared bins: the asymptotic
    Kolmogorov distribution at the effective sample size, with Stephens' small-sample
    correction (``scipy.special`` only: importing ``scipy.stats`` costs seconds)."""
    from scipy.special import kolmogorov

    n_ref, n_live = float(sum(ref_counts)), float(sum(live_counts))
    if n_ref <= 0 or n_live <= 0:
        return 0.0, 1.0
    d, cr, cl = 0.0, 0.0, 0.0
    for r, q in zip(ref_counts, live_counts, strict=True):
        cr += r / n_ref
        cl += q / n_live
        d = max(d, abs(cr - cl))
    en = n_ref * n_live / (n_ref + n_live)
    root = math.sqrt(en)
    return d, float(min(1.0, kolmogorov((root + 0.12 + 0.11 / root) * d)))


def chi_square(ref_counts: Sequence[float], live_counts: Sequence[float]) -> tuple[float, float]:
    """(statistic, p-value) of the live counts against the reference shares (categories
    empty on both sides dropped; reference shares smoothed so an unseen category counts)."""
    from scipy.special import chdtrc

    pairs = [(r, q) for r, q in zip(ref_counts, live_counts, strict=True) if r > 0 or q > 0]
    n_live = float(sum(q for _, q in pairs))
    if len(pairs) < 2 or n_live <= 0:
        return 0.0, 1.0
    smoothed = [r + 0.5 for r, _ in pairs]
    total = sum(smoothed)
    stat = 0.0
    for s, (_, q) in zip(smoothed, pairs, strict=True):
        expected = s / total * n_live
        stat += (q - expected) ** 2 / expected
    return stat, float(chdtrc(len(pairs) - 1, stat))


def numeric_test(
    ref_counts: Sequence[float], live_counts: Sequence[float], groups: Sequence[tuple[int, int]]
) -> TestResult:
    d, p = ks_binned(ref_counts, live_counts)
    score = psi(regroup(ref_counts, groups), regroup(live_counts, groups))
    return TestResult(score=score, statistic=d, pvalue=p, method="ks")


def categorical_test(ref_counts: Sequence[float], live_counts: Sequence[float]) -> TestResult:
    stat, p = chi_square(ref_counts, live_counts)
    return TestResult(score=psi(ref_counts, live_counts), statistic=stat, pvalue=p, method="chi2")
