"""Integration: joins on mismatched keys, unions with alignment, as-of with tolerance,
dedupe, rename/cast, and the row counts of every step."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from engine.errors import UserError
from engine.specs import DataSpec, IntegrateSpec, SourceSpec, frozen_map
from engine.steps.data import StepCount, integrate


def data(names: list[str], *ops: IntegrateSpec, **kw: Any) -> DataSpec:
    return DataSpec(sources=tuple(SourceSpec(n, "csv") for n in names), integrate=ops, **kw)


def op(kind: str, source: str | None = None, **options: Any) -> IntegrateSpec:
    return IntegrateSpec(op=kind, source=source, options=frozen_map(options))


CUSTOMERS = pd.DataFrame({"customer_id": [1, 2, 3], "age": [30, 40, 50]})
USAGE = pd.DataFrame({"CustID": [1, 1, 2, 4], "minutes": [10.0, 20.0, 30.0, 40.0]})


@pytest.mark.parametrize(
    ("how", "ids", "rows"),
    [
        pytest.param("inner", [1, 1, 2], 3, id="inner"),
        pytest.param("left", [1, 1, 2, 3], 4, id="left"),
        pytest.param("outer", [1, 1, 2, 3, 4], 5, id="outer"),
    ],
)
def test_join_on_mismatched_key_names(how: str, ids: list[int], rows: int) -> None:
    spec = data(
        ["customers", "usage"],
        op("join", "usage", left_on="customer_id", right_on="CustID", how=how),
    )
    res = integrate({"customers": CUSTOMERS, "usage": USAGE}, spec)
    assert "CustID" not in res.frame.columns  # the right key is folded into the left one
    assert sorted(res.frame["customer_id"].astype(int).tolist()) == ids
    assert res.stats == (StepCount("join:usage", 3, rows),)
    assert res.rows_out == rows


def test_join_default_is_left_and_suffixes_clashing_columns() -> None:
    right = pd.DataFrame({"customer_id": [1], "age": [99]})
    res = integrate(
        {"c": CUSTOMERS, "r": right}, data(["c", "r"], op("join", "r", on="customer_id"))
    )
    assert list(res.frame.columns) == ["customer_id", "age", "age_r"]
    custom = op("join", "r", on="customer_id", suffixes=["_l", "_r2"])
    res = integrate({"c": CUSTOMERS, "r": right}, data(["c", "r"], custom))
    assert list(res.frame.columns) == ["customer_id", "age_l", "age_r2"]
    assert len(res.frame) == 3


def test_union_aligns_columns_and_unifies_dtypes() -> None:
    a = pd.DataFrame({"id": [1, 2], "x": [1, 2]})
    b = pd.DataFrame({"id": [3], "x": [0.5], "extra": ["e"]})
    res = integrate({"a": a, "b": b}, data(["a", "b"], op("union", "b")))
    assert list(res.frame.columns) == ["id", "x", "extra"]
    assert res.frame["x"].dtype == "float64"
    assert res.frame["extra"].isna().tolist() == [True, True, False]
    assert res.stats == (StepCount("union:b", 2, 3),)


def test_asof_with_tolerance_and_by() -> None:
    events = pd.DataFrame(
        {
            "cid": [1, 1, 2, 2],
            "ts": pd.to_datetime(["2024-01-10", "2024-01-02", "2024-01-05", None]),
        }
    )
    plans = pd.DataFrame(
        {
            "customer": [1, 1, 2],
            "changed": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-01"]).astype(
                "datetime64[us]"
            ),
            "plan": ["basic", "pro", "basic"],
        }
    )
    spec = data(
        ["events", "plans"],
        op(
            "asof",
            "plans",
            left_on="ts",
            right_on="changed",
            left_by="cid",
            right_by="customer",
            tolerance="2d",
        ),
    )
    res = integrate({"events": events, "plans": plans}, spec)
    out = res.frame
    assert out["cid"].tolist() == [1, 1, 2, 2]  # original row order kept, null ts kept
    # row 0: pro changed 1 day before -> match; row 1: basic 1 day before -> match;
    # row 2: basic 4 days before -> beyond tolerance; row 3: null ts -> no match
    assert out["plan"].tolist()[:2] == ["pro", "basic"]
    assert out["plan"].isna().tolist()[2:] == [True, True]
    assert "customer" not in out.columns


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        pytest.param("backward", [None, "a"], id="backward"),
        pytest.param("forward", ["a", "b"], id="forward"),
        pytest.param("nearest", ["a", "a"], id="nearest"),
    ],
)
def test_asof_directions_on_numbers(direction: str, expected: list[str | None]) -> None:
    left = pd.DataFrame({"t": [5, 12]})
    right = pd.DataFrame({"t": [10, 20], "v": ["a", "b"]})
    res = integrate(
        {"l": left, "r": right}, data(["l", "r"], op("asof", "r", on="t", direction=direction))
    )
    got = [None if pd.isna(v) else v for v in res.frame["v"]]
    assert got == expected


def test_dedupe_op_and_final_dedupe_keep_last() -> None:
    rows = pd.DataFrame({"id": [1, 1, 2, 2, 2], "v": [1, 2, 3, 4, 5]})
    res = integrate({"r": rows}, data(["r"], op("dedupe", on=["id"])))
    assert res.frame["v"].tolist() == [2, 5]
    first = integrate({"r": rows}, data(["r"], op("dedupe", on=["id"], keep="first")))
    assert first.frame["v"].tolist() == [1, 3]
    res2 = integrate({"r": rows}, data(["r"], dedupe=("id",)))
    assert res2.frame["v"].tolist() == [2, 5]
    assert res2.stats == (StepCount("dedupe", 5, 2),)


def test_rename_then_cast() -> None:
    rows = pd.DataFrame({"A": ["1", "2"], "when": ["2024-01-01", "2024-02-01"]})
    spec = data(
        ["r"],
        rename=frozen_map({"A": "a"}),
        cast=frozen_map({"a": "int64", "when": "datetime64[ns]"}),
    )
    out = integrate({"r": rows}, spec).frame
    assert out["a"].dtype == "int64"
    assert out["when"].dtype == "datetime64[ns]"


@pytest.mark.parametrize(
    ("spec", "key_path"),
    [
        pytest.param(
            data(["c", "u"], op("join", "usr", on="customer_id")),
            "data.integrate[0].join",
            id="bad-source",
        ),
        pytest.param(
            data(["c", "u"], op("join", "u", on="cust")), "data.integrate[0].on", id="bad-key"
        ),
        pytest.param(
            data(["c", "u"], op("join", "u", on="customer_id", how="full")),
            "data.integrate[0].how",
            id="bad-how",
        ),
        pytest.param(data(["c", "u"], op("joyn", "u")), "data.integrate[0]", id="bad-op"),
        pytest.param(data(["c", "u"]), "data.integrate", id="unused-source"),
        pytest.param(
            data(["c"], cast=frozen_map({"age": "datetime64[ns]x"})), "data.cast.age", id="bad-cast"
        ),
        pytest.param(data(["c"], rename=frozen_map({"agee": "a"})), "data.rename", id="bad-rename"),
        pytest.param(
            data(["c", "u"], op("asof", "u", on="age", direction="sideways")),
            "data.integrate[0].direction",
            id="bad-direction",
        ),
    ],
)
def test_bad_integration_is_a_user_error_with_key_path(spec: DataSpec, key_path: str) -> None:
    frames = {"c": CUSTOMERS, "u": CUSTOMERS.rename(columns={"age": "years"})}
    with pytest.raises(UserError) as err:
        integrate(frames, spec)
    assert err.value.key_path == key_path
