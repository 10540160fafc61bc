"""Reference vs live counts: one verdict per feature and one for the predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.drift import stats
from engine.drift.reference import Distribution, Reference
from engine.monitor.scan import Counts, LiveCounts
from engine.specs import DriftThresholds, MonitorSpec


@dataclass(frozen=True)
class ColumnDrift:
    """The drift of one column (a feature, or the predictions)."""

    name: str
    method: str  # "ks" (numeric) | "chi2" (categorical) | "none" (too few rows)
    score: float  # PSI on the reference bins
    pvalue: float
    statistic: float
    drifted: bool
    rows: int
    missing_reference: float
    missing_live: float
    out_of_schema: int = 0
    reasons: tuple[str, ...] = ()  # why it counts as drifted: "distribution", "missing", ...

    def to_json(self) -> dict[str, object]:
        return {
            "score": round(self.score, 6),
            "pvalue": self.pvalue,
            "drifted": self.drifted,
            "method": self.method,
            "statistic": round(self.statistic, 6),
            "rows": self.rows,
            "missing_rate": {
                "reference": round(self.missing_reference, 6),
                "live": round(self.missing_live, 6),
            },
            "out_of_schema": self.out_of_schema,
            "reasons": list(self.reasons),
        }


def thresholds_for(spec: MonitorSpec, name: str) -> DriftThresholds:
    return spec.features.get(name, spec.thresholds)


def column_drift(
    name: str,
    ref: Distribution,
    live: Counts,
    limits: DriftThresholds,
    min_samples: int,
    out_of_schema: int = 0,
) -> ColumnDrift:
    """Test ``live`` against ``ref``; flagged only with at least ``min_samples`` rows."""
    present = live.rows - live.missing
    miss_live = live.missing / live.rows if live.rows else 0.0
    if present < max(1, min_samples) or sum(ref.counts) == 0:
        return ColumnDrift(name, "none", 0.0, 1.0, 0.0, False, live.rows, ref.missing_rate,
                           miss_live, out_of_schema)  # fmt: skip
    ref_counts = list(ref.counts)
    live_counts = [int(c) for c in live.counts]
    if ref.kind == "numeric":
        test = stats.numeric_test(ref_counts, live_counts, stats.coarse_groups(ref_counts))
    else:
        test = stats.categorical_test(ref_counts, live_counts)
    reasons = []
    if test.score >= limits.psi and test.pvalue < limits.p_value:
        reasons.append("distribution")
    if abs(miss_live - ref.missing_rate) > limits.missing_rate:
        reasons.append("missing")
    if live.rows and out_of_schema / live.rows > limits.out_of_schema:
        reasons.append("schema")
    return ColumnDrift(
        name=name,
        method=test.method,
        score=test.score,
        pvalue=test.pvalue,
        statistic=test.statistic,
        drifted=bool(reasons) and not limits.ignore,
        rows=live.rows,
        missing_reference=ref.missing_rate,
        missing_live=miss_live,
        out_of_schema=out_of_schema,
        reasons=tuple(reasons),
    )


def feature_drift(
    reference: Reference, live: LiveCounts, spec: MonitorSpec
) -> dict[str, ColumnDrift]:
    return {
        name: column_drift(
            name,
            reference.features[name],
            counts,
            thresholds_for(spec, name),
            spec.min_samples,
            live.out_of_schema.get(name, 0),
        )
        for name, counts in live.features.items()
    }


def prediction_drift(
    reference: Reference, live: LiveCounts, spec: MonitorSpec
) -> ColumnDrift | None:
    if reference.prediction is None or live.prediction is None:
        return None
    return column_drift(
        "prediction", reference.prediction, live.prediction, spec.thresholds, spec.min_samples
    )


def mix(dist: Distribution, counts: object | None = None) -> Mapping[str, float]:
    """Class shares (categorical) of the reference, or of live ``counts`` on its bins."""
    values = list(dist.counts) if counts is None else [int(c) for c in counts]  # type: ignore[attr-defined]
    names = [*dist.categories, "other"]
    return {n: round(s, 6) for n, s in zip(names, stats.shares(values), strict=True) if s > 0}


def histogram(dist: Distribution, live: Counts | None) -> dict[str, list[object]]:
    """Reference vs live shares on coarse bins (deciles, or the categories), for the HTML
    report: bin names come from the reference only, never from a logged value."""
    ref_counts = list(dist.counts)
    live_counts = [0] * len(ref_counts) if live is None else [int(c) for c in live.counts]
    if dist.kind == "numeric":
        groups = stats.coarse_groups(ref_counts)
        edges = list(dist.edges)
        labels = [
            f"({'-inf' if a == 0 else f'{edges[a - 1]:.3g}'}, "
            f"{'inf' if b > len(edges) else f'{edges[b - 1]:.3g}'}]"
            for a, b in groups
        ]
        ref_counts, live_counts = (
            [int(x) for x in stats.regroup(ref_counts, groups)],
            [int(x) for x in stats.regroup(live_counts, groups)],
        )
    else:
        labels = [*dist.categories, "other"]
    return {
        "bins": list(labels),
        "reference": [round(s, 6) for s in stats.shares(ref_counts)],
        "live": [round(s, 6) for s in stats.shares(live_counts)],
    }
