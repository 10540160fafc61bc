"""Datetime features (``preprocess.datetime``): expanded to calendar parts and epoch seconds,
never one-hot encoded; the same numbers from training timestamps and served ISO strings."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from engine.errors import RecipeError, UserError
from engine.models.preprocess import (
    column_transformer,
    datetime_options,
    expand_datetimes,
    split_columns,
)
from engine.recipe import to_spec
from engine.specs import PreprocessSpec, frozen_map


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1.0, 2.0, 3.0, 4.0],
            "color": ["red", "blue", "red", None],
            "when": pd.to_datetime(
                ["2024-01-02 03:04:05", None, "2023-05-06 07:08:09", "2022-12-31 23:00:00"]
            ),
        }
    )


def test_expand_gives_calendar_parts_and_epoch_seconds():
    out = expand_datetimes(
        _frame()[["when"]], parts=["year", "month", "day", "dayofweek", "hour", "week"], epoch=True
    )
    assert out.dtype == np.float64 and out.shape == (4, 7)
    # 2024-01-02 is a Tuesday (Monday = 0) of ISO week 1
    np.testing.assert_array_equal(out[0], [2024, 1, 2, 1, 3, 1, 1704164645.0])
    assert np.isnan(out[1]).all(), "a missing time gives NaN in every output"
    np.testing.assert_array_equal(out[3, :6], [2022, 12, 31, 5, 23, 52])


def test_each_part_is_the_pandas_value():
    when = _frame()["when"].dropna().reset_index(drop=True)
    parts = ["quarter", "dayofyear", "minute", "second"]
    out = expand_datetimes(when.to_frame(), parts=parts, epoch=False)
    expected = np.column_stack(
        [when.dt.quarter, when.dt.day_of_year, when.dt.minute, when.dt.second]
    ).astype(float)
    np.testing.assert_array_equal(out, expected)


def test_datetime_column_is_expanded_not_one_hot_encoded():
    frame = _frame()
    numeric, categorical = split_columns(frame, ["amount", "color", "when"])
    ct = column_transformer(PreprocessSpec(), numeric, categorical)
    out = ct.fit_transform(frame)
    names = list(ct.get_feature_names_out())
    assert names == [
        "num__amount",
        "cat__color_blue",
        "cat__color_red",
        "dt__when_year",
        "dt__when_month",
        "dt__when_day",
        "dt__when_dayofweek",
        "dt__when_hour",
        "dt__when_epoch",
    ]
    assert out.shape == (4, len(names)) and np.isfinite(out).all(), "NaT imputed"


def test_served_iso_strings_give_the_training_numbers():
    """Naive training times are UTC; a request's offset is converted; after pickling."""
    frame = _frame()
    numeric, categorical = split_columns(frame, ["amount", "color", "when"])
    ct = pickle.loads(pickle.dumps(column_transformer(PreprocessSpec(), numeric, categorical)))
    trained = ct.fit(frame).transform(frame)
    served = frame.copy()
    served["when"] = pd.Series(
        ["2024-01-02T03:04:05Z", None, "2023-05-06T09:08:09+02:00", "2022-12-31T23:00:00"],
        dtype=object,
    )
    np.testing.assert_allclose(ct.transform(served), trained)


def test_declared_parts_and_epoch_off():
    frame = _frame()
    spec = PreprocessSpec(datetime=frozen_map({"parts": ["hour"], "epoch": False}))
    ct = column_transformer(spec, ["amount"], ["when"])
    ct.fit(frame)
    assert list(ct.get_feature_names_out()) == ["num__amount", "dt__when_hour"]


def test_no_datetime_column_leaves_the_transformer_as_before():
    frame = _frame()
    ct = column_transformer(PreprocessSpec(), ["amount"], ["color"]).fit(frame)
    assert list(ct.get_feature_names_out()) == ["num__amount", "cat__color_blue", "cat__color_red"]


@pytest.mark.parametrize(
    ("given", "key_path"),
    [
        ({"parts": ["hours"]}, "preprocess.datetime.parts"),
        ({"epoch": "yes"}, "preprocess.datetime.epoch"),
        ({"parts": [], "epoch": False}, "preprocess.datetime"),
        ({"cyclic": True}, "preprocess.datetime.cyclic"),
    ],
)
def test_bad_options_are_user_errors(given, key_path):
    with pytest.raises(UserError) as info:
        datetime_options(given)
    assert info.value.key_path == key_path


def test_defaults():
    opts = datetime_options({})
    assert opts.parts == ("year", "month", "day", "dayofweek", "hour") and opts.epoch


BASE = {
    "name": "t",
    "task": "classification",
    "target": "target",
    "data": {"sources": {"iris": {"kind": "sklearn", "name": "iris"}}},
    "models": {"rf": {"_target_": "sklearn.ensemble.RandomForestClassifier"}},
}


def test_recipe_validates_preprocess_datetime():
    spec = to_spec({**BASE, "preprocess": {"datetime": {"parts": ["month"], "epoch": False}}})
    assert dict(spec.preprocess.datetime) == {"parts": ("month",), "epoch": False}
    assert dict(to_spec(BASE).preprocess.datetime) == {}


@pytest.mark.parametrize(
    ("datetime", "expected"),
    [
        ({"parts": ["hours"]}, "preprocess.datetime.parts"),
        ({"parts": "hour", "epoch": 1}, "preprocess.datetime.epoch"),
        ({"parts": [], "epoch": False}, "preprocess.datetime"),
        ({"cyclic": True}, "preprocess.datetime.cyclic"),
    ],
)
def test_recipe_refuses_bad_preprocess_datetime(datetime, expected):
    with pytest.raises(RecipeError) as info:
        to_spec({**BASE, "preprocess": {"datetime": datetime}})
    assert expected in info.value.key_paths
