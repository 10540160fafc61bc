"""Rolling-window drift in the server: bounded ring buffers, PSI and the prediction mix,
published as gauges per version and variant."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.drift.live import LiveDrift, _Ring
from engine.drift.reference import save

COLUMNS = ["age", "income", "plan", "active"]


def _rows(frame: pd.DataFrame) -> list[list[Any]]:
    return [[r[c] for c in COLUMNS] for r in frame[COLUMNS].to_dict("records")]


def test_the_ring_keeps_the_last_rows_only() -> None:
    ring = _Ring(5)
    ring.push(np.array([1, 1, 1], dtype="int16"))
    ring.push(np.array([2, 2, 2, 2], dtype="int16"))
    assert ring.filled == 5 and ring.counts(3).tolist() == [0, 1, 4]
    ring.push(np.arange(10, dtype="int16") % 3)
    assert ring.counts(3).sum() == 5


def test_psi_per_feature_over_the_window(train: pd.DataFrame, reference: Any) -> None:
    live = LiveDrift(reference, COLUMNS, window_rows=500)
    same = train.sample(500, random_state=1)
    preds = np.where(same["plan"] == "basic", "stay", "churn")
    assert live.observe(_rows(same), list(preds))  # the first batch publishes at once
    scores = live.scores()
    assert set(scores) == {"age", "income", "plan", "active"}
    assert max(scores.values()) < 0.1
    assert live.mix()["stay"] == pytest.approx((same["plan"] == "basic").mean())
    shifted = same.copy()
    shifted["income"] = shifted["income"] + 2 * train["income"].std()
    live.observe(_rows(shifted), list(preds))
    scores = live.scores()  # the window now holds only shifted rows
    assert scores["income"] > 1.0 and scores["age"] < 0.1 and live.rows == 500


def test_publishing_is_rate_limited(train: pd.DataFrame, reference: Any) -> None:
    live = LiveDrift(reference, COLUMNS, window_rows=100)
    rows, preds = _rows(train.head(5)), ["stay"] * 5
    flags = [live.observe(rows, preds) for _ in range(10)]
    assert flags == [True, False] * 5  # at once, then every window_rows // 10 rows


class Factory:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def Counter(self, **kw: Any) -> Counter:
        return Counter(registry=self.registry, **kw)

    def Histogram(self, **kw: Any) -> Histogram:
        return Histogram(registry=self.registry, **kw)

    def Gauge(self, **kw: Any) -> Gauge:
        return Gauge(registry=self.registry, **kw)


def test_the_service_publishes_gauges_per_version_and_variant(
    tmp_path: Path, train: pd.DataFrame, reference: Any
) -> None:
    from types import SimpleNamespace

    from engine.serving.runtime.service import SousRuntime

    factory = Factory()
    save(reference, tmp_path)

    class Fake:
        version = "v7"

        def __call__(self, rows: list[Any]) -> list[dict[str, Any]]:
            return [{"prediction": "stay", "probabilities": None} for _ in rows]

    features = [{"name": c, "py": c, "dtype": "float"} for c in COLUMNS]
    rt = SousRuntime({"name": "m", "features": features}, {"champion": Fake()})  # type: ignore[dict-item]
    rt.watch_drift({"champion": tmp_path}, factory)
    shifted = train.sample(200, random_state=2).copy()
    shifted["income"] = shifted["income"] * 3
    records = [SimpleNamespace(**r) for r in shifted[COLUMNS].to_dict("records")]
    asyncio.run(rt.predict(records, {}, "predict_batch"))
    labels = {"model": "m", "version": "v7", "variant": "champion"}
    psi = factory.registry.get_sample_value(
        "sous_feature_drift_psi", {**labels, "feature": "income"}
    )
    calm = factory.registry.get_sample_value("sous_feature_drift_psi", {**labels, "feature": "age"})
    share = factory.registry.get_sample_value("sous_prediction_share", {**labels, "cls": "stay"})
    assert psi is not None and psi > 1.0 and calm is not None and calm < 0.2
    assert share == 1.0


def test_a_version_without_reference_has_no_gauges(tmp_path: Path) -> None:
    assert LiveDrift.from_model_dir(tmp_path, COLUMNS) is None
