"""The request log scanned in batches and compared with the reference."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.monitor.drift import feature_drift, prediction_drift
from engine.monitor.scan import Window, scan, schema_counter
from engine.specs import DriftThresholds, MonitorSpec, frozen_map


def _check(directory: Path, reference: Any, spec: MonitorSpec = MonitorSpec(), **kw: Any) -> Any:
    live = scan(directory, reference, Window(**kw), schema_counter=schema_counter(reference))
    return live, feature_drift(reference, live, spec), prediction_drift(reference, live, spec)


def test_rows_drawn_from_training_show_no_drift(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    d = write_log(train.sample(1500, replace=True, random_state=5))
    live, feats, pred = _check(d, reference, version="v1")
    assert live.rows == 1500
    assert not [n for n, f in feats.items() if f.drifted]
    assert pred is not None and not pred.drifted
    assert {f.method for f in feats.values()} == {"ks", "chi2"}
    assert all(n == 0 for n in live.out_of_schema.values())


def test_a_two_std_shift_flags_that_feature_only(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    rows = train.sample(1500, replace=True, random_state=6).copy()
    rows["income"] = rows["income"] + 2 * train["income"].std()
    _, feats, _ = _check(write_log(rows), reference)
    assert [n for n, f in feats.items() if f.drifted] == ["income"]
    assert feats["income"].reasons == ("distribution",)


def test_a_category_mix_change_is_caught_by_chi_square(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    rows = train.sample(1500, replace=True, random_state=7).copy()
    rows["plan"] = np.where(np.arange(len(rows)) % 2 == 0, "team", rows["plan"])
    _, feats, pred = _check(write_log(rows), reference)
    assert feats["plan"].drifted and feats["plan"].method == "chi2"
    assert pred is not None and pred.drifted  # the predictions follow the plan


def test_missing_values_and_schema_violations_are_counted(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    rows = train.sample(1000, replace=True, random_state=8).copy()
    rows["age"] = rows["age"].astype(float)
    rows.iloc[:300, rows.columns.get_loc("age")] = np.nan  # 30% missing, nullable: false
    rows.iloc[300:350, rows.columns.get_loc("plan")] = "enterprise"  # not in isin
    live, feats, _ = _check(write_log(rows), reference)
    assert feats["age"].missing_live == pytest.approx(0.3)
    assert "missing" in feats["age"].reasons
    assert live.out_of_schema["plan"] == 50 and "schema" in feats["plan"].reasons
    assert live.out_of_schema["age"] == 300


def test_version_and_time_window_select_the_rows(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    import time

    write_log(train.head(200), version="v1")
    t = time.time()
    time.sleep(0.01)
    d = write_log(train.tail(300), version="v2")
    assert scan(d, reference, Window(version="v1")).rows == 200
    assert scan(d, reference, Window(version="v2")).rows == 300
    assert scan(d, reference, Window(since=t)).rows == 300
    assert scan(d, reference, Window(until=t)).rows == 200
    assert scan(d.parent / "nothing", reference, Window()).rows == 0


def test_small_batches_give_the_same_counts(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    d = write_log(train.sample(1000, random_state=9))
    whole = scan(d, reference, Window())
    pieces = scan(d, reference, Window(), batch_rows=64)
    for name in whole.features:
        assert whole.features[name].counts.tolist() == pieces.features[name].counts.tolist()
    assert whole.traffic.summary() == pieces.traffic.summary()


def test_too_few_rows_are_never_flagged_and_overrides_apply(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    rows = train.sample(50, random_state=10).copy()
    rows["income"] = rows["income"] * 10
    d = write_log(rows)
    _, feats, _ = _check(d, reference)
    assert not feats["income"].drifted and feats["income"].method == "none"
    spec = MonitorSpec(
        min_samples=10, features=frozen_map({"income": DriftThresholds(ignore=True)})
    )
    _, feats, _ = _check(d, reference, spec)
    assert feats["income"].score > 1 and not feats["income"].drifted


def test_traffic_per_variant_with_latency_percentiles(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    write_log(train.head(100), latency_ms=2.0)
    d = write_log(train.head(40), role="shadow", variant="challenger", latency_ms=50.0)
    summary = scan(d, reference, Window()).traffic.summary()
    assert summary["champion/served"]["rows"] == 100
    assert summary["challenger/shadow"]["rows"] == 40
    assert 2.0 <= summary["champion/served"]["p99_ms"] < 2.6
    assert 50.0 <= summary["challenger/shadow"]["p50_ms"] < 63
