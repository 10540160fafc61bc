"""Prometheus metrics per model version and variant, exposed on BentoML's ``/metrics``.

Metrics are created through ``bentoml.metrics`` in the server (it wires prometheus_client's
multi-process mode across BentoML's workers); tests pass ``prometheus_client`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

LABELS = ["model", "version", "variant", "endpoint", "outcome"]
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counts, row counts and latency histograms labelled by version and variant."""

    def __init__(self, model: str, factory: ModuleType | Any | None = None):
        if factory is None:
            import bentoml

            factory = bentoml.metrics
        self.model = model
        self.requests = factory.Counter(
            name="sous_requests_total",
            documentation="Prediction requests by model version and variant",
            labelnames=LABELS,
        )
        self.rows = factory.Counter(
            name="sous_predicted_rows_total",
            documentation="Rows predicted by model version and variant",
            labelnames=LABELS,
        )
        self.latency = factory.Histogram(
            name="sous_request_latency_seconds",
            documentation="Prediction latency by model version and variant",
            labelnames=LABELS,
            buckets=LATENCY_BUCKETS,
        )
        self._children: dict[tuple[str, ...], tuple[Any, Any, Any]] = {}

    def observe(
        self, *, version: str, variant: str, endpoint: str, outcome: str, rows: int, seconds: float
    ) -> None:
        key = (version, variant, endpoint, outcome)
        children = self._children.get(key)
        if children is None:  # labelling checks and hashes every value: once per key
            labels = dict(zip(LABELS, (self.model, *key), strict=True))
            children = (
                self.requests.labels(**labels),
                self.rows.labels(**labels),
                self.latency.labels(**labels),
            )
            self._children[key] = children
        requests, rows_, latency = children
        requests.inc()
        rows_.inc(rows)
        latency.observe(seconds)


class DriftGauges:
    """Rolling-window drift per feature and the prediction mix, per version and variant
    (computed by :mod:`engine.drift.live`), so Prometheus can alert without Sous's CLI.
    Across BentoML workers the highest value is exported (``multiprocess_mode="max"``)."""

    def __init__(self, model: str, factory: ModuleType | Any | None = None):
        if factory is None:
            import bentoml

            factory = bentoml.metrics
        self.model = model
        self.psi = factory.Gauge(
            name="sous_feature_drift_psi",
            documentation="PSI of each feature over the server's last rows vs the reference",
            labelnames=["model", "version", "variant", "feature"],
            multiprocess_mode="max",
        )
        self.share = factory.Gauge(
            name="sous_prediction_share",
            documentation="Share of each predicted class over the server's last rows",
            labelnames=["model", "version", "variant", "cls"],
            multiprocess_mode="max",
        )

    def publish(
        self,
        *,
        version: str,
        variant: str,
        scores: Mapping[str, float],
        mix: Mapping[str, float],
    ) -> None:
        base = {"model": self.model, "version": version, "variant": variant}
        for feature, value in scores.items():
            self.psi.labels(**base, feature=feature).set(value)
        for cls, value in mix.items():
            self.share.labels(**base, cls=cls).set(value)
