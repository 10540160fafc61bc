"""Request logs land as parquet files, in chunks, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.serving.runtime.reqlog import RequestLog


def test_log_flushes_parquet_in_chunks(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "logs", flush_rows=3)
    recs = [{"email": f"u{i}@x.org", "age": i} for i in range(2)]
    preds = [{"prediction": 1, "probabilities": {"0": 0.1, "1": 0.9}}, {"prediction": 0}]
    log.write(recs, preds, variant="champion", version="v1")
    assert not list((tmp_path / "logs").glob("*.parquet"))  # 2 rows < flush_rows
    log.write(recs[:1], preds[:1], variant="challenger", version="v2")  # reaches flush_rows
    files = list((tmp_path / "logs").glob("*.parquet"))
    assert len(files) == 1
    df = pd.read_parquet(files[0])
    assert len(df) == 3
    assert df["email"].tolist() == ["u0@x.org", "u1@x.org", "u0@x.org"]  # logged as given
    assert list(df["_variant"]) == ["champion", "champion", "challenger"]
    assert df["_prediction"].tolist() == ["1", "0", "1"]
    assert log.flush() is None  # nothing buffered
    assert not list((tmp_path / "logs").glob(".*.tmp"))  # no half-written files left
