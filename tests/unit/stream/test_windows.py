"""Windowed features: the batch path (point in time over history) and the stream path
(incremental per key) give the same values for the same events."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.errors import UserError
from engine.features.batch import compute_windows
from engine.features.state import WindowState
from engine.features.windows import NS, aggregate, parse_window, to_ns
from engine.specs import WindowFeatureSpec, WindowsSpec


def _spec(lateness: float = 0.0) -> WindowsSpec:
    agg = WindowFeatureSpec
    return WindowsSpec(
        key="user",
        time="ts",
        allowed_lateness_s=lateness,
        aggregations=(
            agg("n_5m", "count", 300.0),
            agg("amount_sum_1h", "sum", 3600.0, "amount"),
            agg("amount_mean_1h", "mean", 3600.0, "amount"),
            agg("amount_min_10m", "min", 600.0, "amount"),
            agg("amount_max_10m", "max", 600.0, "amount"),
            agg("shops_1h", "distinct", 3600.0, "shop"),
            agg("last_shop_1d", "last", 86400.0, "shop"),
            agg("amount_sum_hour", "sum", 3600.0, "amount", kind="tumbling"),
            agg("n_day", "count", 86400.0, kind="tumbling"),
        ),
    )


def _events(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-03-01T00:00:00Z")
    gaps = rng.exponential(40.0, n).cumsum()
    amount = rng.gamma(2.0, 30.0, n).round(2)
    amount[rng.random(n) < 0.05] = np.nan  # nulls are skipped by value aggregations
    return pd.DataFrame(
        {
            "user": rng.choice(["u1", "u2", "u3", "u4"], n),
            "ts": start + pd.to_timedelta(gaps, unit="s"),
            "amount": amount,
            "shop": rng.choice(["a", "b", "c", "d", "e"], n),
        }
    )


def _stream(events: pd.DataFrame, spec: WindowsSpec) -> pd.DataFrame:
    """Every event through the incremental state in arrival order, as the stream does it."""
    state = WindowState(spec)
    rows = []
    times = to_ns(events["ts"]).tolist()
    for t, record in zip(times, events.to_dict("records"), strict=True):
        rows.append(state.features(record["user"], t))
        state.add(record["user"], t, record)
        state.evict()
    return pd.DataFrame(rows)


def _assert_same(batch: pd.DataFrame, stream: pd.DataFrame, spec: WindowsSpec) -> None:
    for a in spec.aggregations:
        left, right = batch[a.name].tolist(), stream[a.name].tolist()
        for i, (x, y) in enumerate(zip(left, right, strict=True)):
            both_null = (x is None or (isinstance(x, float) and math.isnan(x))) and (
                y is None or (isinstance(y, float) and math.isnan(y))
            )
            assert both_null or x == y, f"{a.name} row {i}: batch {x!r} != stream {y!r}"


def test_same_events_give_the_same_values_in_batch_and_stream() -> None:
    spec = _spec()
    events = _events()
    batch = compute_windows(events, events, spec)
    _assert_same(batch, _stream(events, spec), spec)
    assert batch["n_5m"].max() > 1 and batch["shops_1h"].max() > 1  # the windows hold events


def test_equal_after_a_checkpoint_round_trip_mid_stream() -> None:
    """The state a crashed stream resumes from (JSON) continues exactly where it stopped."""
    import json

    spec = _spec(lateness=60.0)
    events = _events(300, seed=5)
    times = to_ns(events["ts"]).tolist()
    records = events.to_dict("records")
    state, rows = WindowState(spec), []
    for i, (t, r) in enumerate(zip(times, records, strict=True)):
        if i == 150:
            state = WindowState.from_json(spec, json.loads(json.dumps(state.to_json())))
        rows.append(state.features(r["user"], t))
        state.add(r["user"], t, r)
        state.evict()
    _assert_same(compute_windows(events, events, spec), pd.DataFrame(rows), spec)


def test_a_row_sees_only_events_strictly_before_it() -> None:
    spec = WindowsSpec(
        key="k",
        time="ts",
        aggregations=(
            WindowFeatureSpec("s", "sum", 60.0, "x"),
            WindowFeatureSpec("n", "count", 60.0),
        ),
    )
    events = pd.DataFrame({"k": [1, 1, 1, 1], "ts": [0.0, 30.0, 60.0, 200.0], "x": [1, 2, 4, 8]})
    rows = pd.DataFrame({"k": [1, 1, 1, 1, 2], "ts": [0.0, 30.0, 61.0, 500.0, 30.0]})
    out = compute_windows(events, rows, spec)
    # t=0: nothing before; t=30: the event at 0; t=61: events in [1, 61) -> 30 and 60
    assert out["s"].tolist() == [0.0, 1.0, 6.0, 0.0, 0.0]
    assert out["n"].tolist() == [0, 1, 2, 0, 0]
    assert list(out.index) == list(rows.index)


def test_tumbling_windows_restart_at_the_bucket_edge() -> None:
    spec = WindowsSpec(
        key="k", time="ts", aggregations=(WindowFeatureSpec("n", "count", 60.0, kind="tumbling"),)
    )
    events = pd.DataFrame({"k": ["a"] * 4, "ts": [10.0, 50.0, 59.0, 61.0]})
    out = compute_windows(events, events, spec)
    assert out["n"].tolist() == [0, 1, 2, 0]


def test_late_events_are_flagged_and_evicted_state_stays_bounded() -> None:
    spec = WindowsSpec(
        key="k",
        time="ts",
        allowed_lateness_s=10.0,
        aggregations=(WindowFeatureSpec("n", "count", 60.0),),
    )
    state = WindowState(spec)
    for i in range(1000):
        state.add("a", i * NS, {})
        state.evict()
    assert state.is_late(900 * NS) and not state.is_late(995 * NS)
    assert len(state.keys["a"].ts) <= 71  # the 60 s window + 10 s lateness behind the newest


@pytest.mark.parametrize(
    ("agg", "values", "expected"),
    [
        pytest.param("count", [1.0, None], 2, id="count-events"),
        pytest.param("sum", [1.0, None, 2.5], 3.5, id="sum-skips-null"),
        pytest.param("mean", [], None, id="mean-empty"),
        pytest.param("sum", [], 0.0, id="sum-empty"),
        pytest.param("distinct", ["a", "b", "a", None], 2, id="distinct"),
        pytest.param("last", ["a", "b"], "b", id="last"),
        pytest.param("max", [3.0, float("nan"), 7.0], 7.0, id="max-skips-nan"),
    ],
)
def test_aggregate(agg: str, values: list[object], expected: object) -> None:
    assert aggregate(agg, values) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300.0), ("1h", 3600.0), ("7d", 604800.0), ("250ms", 0.25), (90, 90.0)],
)
def test_parse_window(text: object, seconds: float) -> None:
    assert parse_window(text) == seconds


def test_bad_times_are_a_user_error() -> None:
    with pytest.raises(UserError) as err:
        to_ns(pd.Series(["yesterday"]))
    assert err.value.key_path == "features.windows.time"


@pytest.mark.parametrize("seed", range(5))
def test_random_windows_agree_in_batch_and_stream(seed: int) -> None:
    """Random windows (sizes, kinds, aggregations) over random events with ties, nulls and
    integer keys: the two paths agree on every value."""
    rng = np.random.default_rng(100 + seed)
    aggs = tuple(
        WindowFeatureSpec(
            f"f{i}",
            str(rng.choice(["count", "sum", "mean", "min", "max", "distinct", "last"])),
            float(rng.choice([1, 7, 30, 90, 600])),
            None if i % 7 == 0 else str(rng.choice(["x", "s"])),
            str(rng.choice(["sliding", "tumbling"])),
        )
        for i in range(12)
    )
    aggs = tuple(
        a if a.column or a.agg == "count" else WindowFeatureSpec(a.name, "count", a.window_s)
        for a in aggs
    )
    aggs = tuple(
        WindowFeatureSpec(a.name, a.agg, a.window_s, "x", a.kind)
        if a.column == "s" and a.agg in ("sum", "mean", "min", "max")
        else a
        for a in aggs
    )
    spec = WindowsSpec(key="k", time="t", aggregations=aggs)
    n = 300
    x = rng.integers(-5, 50, n).astype("float64")
    x[rng.random(n) < 0.1] = np.nan
    events = pd.DataFrame(
        {
            "k": rng.integers(0, 3, n),
            "t": np.sort(rng.integers(0, 900, n)).astype("float64"),  # ties included
            "x": x,
            "s": rng.choice(["p", "q", "r"], n),
        }
    )
    state, rows = WindowState(spec), []
    for t, r in zip(to_ns(events["t"]).tolist(), events.to_dict("records"), strict=True):
        rows.append(state.features(r["k"], t))
        state.add(r["k"], t, r)
        state.evict()
    _assert_same(compute_windows(events, events, spec), pd.DataFrame(rows), spec)
