"""The reference kept with a version: bounded, PII-free, and read back as written."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.drift.reference import MIN_COUNT, Reference, build_reference


def test_round_trips_through_json(reference: Any) -> None:
    again = Reference.from_json(reference.to_json())
    assert again == reference
    assert again.schema_spec() is not None


def test_bounded_whatever_the_rows(train: pd.DataFrame) -> None:
    big = pd.concat([train] * 50, ignore_index=True)
    ref = build_reference(big, ["age", "income", "plan"], None, {}, None)
    assert len(ref.to_json()) < 20_000
    assert len(ref.features["income"].edges) <= 99
    assert sum(ref.features["income"].counts) == len(big)


def test_rare_values_and_pii_columns_are_never_kept(train: pd.DataFrame) -> None:
    frame = train.copy()
    frame["city"] = ["Springfield"] * (len(frame) - 3) + ["Tinyville"] * 3
    ref = build_reference(frame, ["plan", "city", "email"], None, {}, None, pii=("email",))
    text = ref.to_json()
    assert "email" not in ref.features and ref.skipped == ("email",)
    assert "Tinyville" not in text and "example.org" not in text  # 3 rows < MIN_COUNT
    assert ref.features["city"].categories == ("Springfield",)
    assert ref.features["city"].counts[-1] == 3 and MIN_COUNT > 3
    # a free-text column of unique values keeps nothing but its "other" count
    unique = build_reference(train, ["email"], None, {}, None)
    assert unique.features["email"].categories == () and "example.org" not in unique.to_json()


def test_kinds_and_missing_rates() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, 4.0] * 10,
            "flag": [True, False, True, True] * 10,
            "when": pd.date_range("2024-01-01", periods=40),
        }
    )
    ref = build_reference(frame, ["x", "flag", "when"], [0.5] * 8, {}, None, task="regression")
    assert ref.features["x"].kind == "numeric" and ref.features["x"].missing_rate == 0.25
    assert ref.features["flag"].kind == "categorical"
    assert set(ref.features["flag"].categories) == {"True", "False"}
    assert "when" in ref.skipped  # time always moves on: not a drift signal
    assert ref.prediction is not None and ref.prediction.kind == "numeric"
