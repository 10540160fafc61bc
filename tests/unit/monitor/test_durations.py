from __future__ import annotations

import pytest

from engine.drift.durations import parse_duration, parse_time


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1.5d", 129600), (90, 90)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "5", "5x", "-1h", "0m", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_times() -> None:
    assert parse_time("2h", now=10_000) == 10_000 - 7200
    assert parse_time("1700000000") == 1_700_000_000
    assert parse_time("2024-01-01T00:00:00") == 1704067200
    assert parse_time("2024-01-01T01:00:00+01:00") == 1704067200
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday")
