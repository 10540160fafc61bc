"""Request logs mask PII and land as parquet files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.serving.runtime.reqlog import REDACTED, RequestLog, mask_record, mask_value


@pytest.mark.parametrize(
    ("pii", "expected_keys"),
    [
        pytest.param({}, {"email", "age", "name"}, id="none"),
        pytest.param({"name": "drop"}, {"email", "age"}, id="drop"),
        pytest.param({"email": "hash", "name": "redact"}, {"email", "age", "name"}, id="mask"),
    ],
)
def test_mask_record(pii: dict[str, str], expected_keys: set[str]) -> None:
    rec = {"email": "a@b.c", "age": 31, "name": "Ada"}
    out = mask_record(rec, pii, salt="s")
    assert set(out) == expected_keys
    assert out["age"] == 31
    if pii.get("email") == "hash":
        assert out["email"] != "a@b.c" and len(out["email"]) == 16
        assert out["email"] == mask_value("a@b.c", "hash", "s")  # deterministic: joinable
        assert out["email"] != mask_value("a@b.c", "hash", "other-salt")
    if pii.get("name") == "redact":
        assert out["name"] == REDACTED


def test_mask_unknown_action() -> None:
    with pytest.raises(ValueError, match="unknown PII action"):
        mask_value("x", "encrypt", "")


def test_log_flushes_parquet_with_masked_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SALT", "pepper")
    log = RequestLog(tmp_path / "logs", pii={"email": "hash"}, salt_env="TEST_SALT", flush_rows=3)
    recs = [{"email": f"u{i}@x.org", "age": i} for i in range(2)]
    preds = [{"prediction": 1, "probabilities": {"0": 0.1, "1": 0.9}}, {"prediction": 0}]
    log.write(recs, preds, variant="champion", version="v1")
    assert not list((tmp_path / "logs").glob("*.parquet"))  # 2 rows < flush_rows
    log.write(recs[:1], preds[:1], variant="challenger", version="v2")  # reaches flush_rows
    files = list((tmp_path / "logs").glob("*.parquet"))
    assert len(files) == 1
    df = pd.read_parquet(files[0])
    assert len(df) == 3
    assert not df["email"].str.contains("@").any()
    assert df["email"].iloc[0] == mask_value("u0@x.org", "hash", "pepper")
    assert list(df["_variant"]) == ["champion", "champion", "challenger"]
    assert df["_prediction"].tolist() == ["1", "0", "1"]
    assert log.flush() is None  # nothing buffered
