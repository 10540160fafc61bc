"""Datetime features at the serving door: typed as ISO 8601 date-time strings, parsed to
UTC timestamps before predict, and written back as ISO strings in JSON (smoke test, logs)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.run.release import feature_fields
from engine.serving.codegen import service_source
from engine.serving.runtime.datetimes import IsoDateTime
from engine.serving.runtime.predictor import Predictor, to_json_value
from engine.serving.types import FeatureField, feature_kind

UTC = dt.UTC


class Record(BaseModel):
    """As the generated service declares it (strict, nullable field)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    when: IsoDateTime | None = Field(alias="when")


def test_feature_fields_type_datetime_columns():
    frame = pd.DataFrame(
        {
            "t": pd.to_datetime(["2024-01-01"]),
            "tz": pd.to_datetime(["2024-01-01"]).tz_localize("Europe/Paris"),
            "x": [1.5],
            "n": [1],
            "b": [True],
            "s": ["a"],
        }
    )
    fields = feature_fields(frame, tuple(frame.columns))
    assert [f.dtype for f in fields] == ["datetime", "datetime", "float", "int", "bool", "str"]
    assert feature_kind(frame["t"].dtype) == "datetime"


def test_record_schema_is_an_iso_date_time_string():
    prop = Record.model_json_schema()["properties"]["when"]
    assert {"type": "string", "format": "date-time"} in prop["anyOf"]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2024-03-05T15:30:00Z", dt.datetime(2024, 3, 5, 15, 30, tzinfo=UTC)),
        ("2024-03-05T09:30:00-06:00", dt.datetime(2024, 3, 5, 15, 30, tzinfo=UTC)),
        ("2024-03-05T15:30:00", dt.datetime(2024, 3, 5, 15, 30, tzinfo=UTC)),
        ("2024-03-05", dt.datetime(2024, 3, 5, tzinfo=UTC)),
        (None, None),
    ],
)
def test_iso_strings_are_parsed_to_utc(sent, expected):
    assert Record.model_validate({"when": sent}).when == expected
    assert Record.model_validate_json(json.dumps({"when": sent})).when == expected


@pytest.mark.parametrize("sent", ["next tuesday", "2024-13-45", 1709652600, 17.5, True, ["x"]])
def test_non_iso_values_are_refused(sent):
    with pytest.raises(ValidationError) as info:
        Record.model_validate({"when": sent})
    messages = " ".join(e["msg"] for e in info.value.errors())
    assert "ISO 8601" in messages or "datetime" in messages
    if isinstance(sent, str):
        assert sent not in messages, "a refusal never repeats the request's value"


def test_generated_service_declares_the_iso_type():
    source = service_source(
        name="clock",
        features=[FeatureField("when", "datetime"), FeatureField("x", "float")],
        models={"champion": "clock:v1"},
        config={},
        max_batch_records=10,
    )
    assert "IsoDateTime | None = Field(alias='when')" in source
    assert "from engine.serving.runtime.datetimes import IsoDateTime" in source
    compile(source, "service.py", "exec")


def test_to_json_value_writes_timestamps_as_iso_strings():
    ts = pd.Series(pd.to_datetime(["2024-01-02 03:04:05.250", None]))
    assert [to_json_value(v) for v in ts] == ["2024-01-02T03:04:05.250000", None]
    assert [to_json_value(v) for v in ts.to_numpy()] == ["2024-01-02T03:04:05.250000", None]
    aware = pd.Timestamp("2024-01-02 03:04:05", tz="UTC")
    assert to_json_value(aware) == "2024-01-02T03:04:05+00:00"
    assert to_json_value(dt.date(2024, 1, 2)) == "2024-01-02"
    assert to_json_value(pd.NaT) is None
    assert to_json_value(np.int64(3)) == 3 and to_json_value(np.float64("nan")) is None
    json.dumps([to_json_value(v) for v in ts])  # the smoke test's rows serialise


class _Echo:
    """Records the frame it is asked to predict."""

    def predict(self, x):
        self.seen = x
        return np.zeros(len(x))


def test_predictor_parses_datetimes_to_utc_timestamps():
    echo = _Echo()
    pred = Predictor(
        echo, task="regression", features=[{"name": "when", "dtype": "datetime"}], version="v"
    )
    pred(
        [
            ["2024-03-05T09:30:00-06:00"],
            [None],
            [dt.datetime(2024, 3, 5, 15, 30, tzinfo=UTC)],
            ["2024-03-05T15:30:00"],
        ]
    )
    col = echo.seen["when"]
    assert str(col.dtype).startswith("datetime64") and str(col.dt.tz) == "UTC"
    t = pd.Timestamp("2024-03-05T15:30:00Z")
    assert col[0] == t and pd.isna(col[1]) and col[2] == t and col[3] == t
