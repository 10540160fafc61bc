"""The data profile: numeric moments, quantiles and histograms; categorical top values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.steps.data import profile


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, None],
            "plan": ["basic", "pro", "basic", None, "basic"],
            "flag": [True, False, True, True, False],
            "y": [0, 1, 0, 1, 1],
        }
    )


def test_numeric_stats(frame: pd.DataFrame) -> None:
    col = profile(frame, target="y").columns["x"]
    assert (col.count, col.nulls) == (4, 1)
    assert col.numeric is not None
    assert col.numeric.mean == pytest.approx(2.5)
    assert col.numeric.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert (col.numeric.min, col.numeric.q50, col.numeric.max) == (1.0, 2.5, 4.0)
    assert sum(col.numeric.bin_counts) == 4
    assert len(col.numeric.bin_edges) == len(col.numeric.bin_counts) + 1
    assert col.categorical is None


def test_categorical_and_bool_stats(frame: pd.DataFrame) -> None:
    prof = profile(frame, target="y")
    plan = prof.columns["plan"]
    assert plan.categorical is not None and plan.numeric is None
    assert plan.categorical.cardinality == 2
    assert plan.categorical.top[0] == ("basic", 3)
    assert prof.columns["flag"].categorical is not None


def test_target_marked_and_json_round_trip(frame: pd.DataFrame) -> None:
    prof = profile(frame, target="y")
    assert prof.rows == 5 and prof.columns["y"].is_target
    assert not prof.columns["x"].is_target
    d = json.loads(json.dumps(prof.to_dict(), allow_nan=False))
    assert d["columns"]["x"]["numeric"]["max"] == 4.0


def test_all_null_numeric_column_has_empty_stats() -> None:
    prof = profile(pd.DataFrame({"x": [np.nan, np.nan], "y": [0, 1]}), target="y")
    col = prof.columns["x"]
    assert col.numeric is not None and col.numeric.mean is None and col.numeric.bin_counts == ()
    json.dumps(prof.to_dict(), allow_nan=False)
