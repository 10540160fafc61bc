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


def test_a_served_log_writes_due_chunks_off_the_callers_thread_and_loses_none(
    tmp_path: Path,
) -> None:
    import threading

    log = RequestLog(tmp_path / "logs", flush_rows=4, background=True)
    writers: list[int] = []
    write = log._write

    def spy(rows: list[dict[str, object]]) -> Path | None:
        writers.append(threading.get_ident())
        return write(rows)

    log._write = spy  # type: ignore[method-assign]
    for i in range(10):
        log.write([{"i": i}], [{"prediction": i}], variant="champion", version="v1")
    assert log.background_writes == 2  # rows 0-3 and 4-7, each in a helper thread
    log.flush()  # waits for them, then writes rows 8-9 here
    main = threading.get_ident()
    assert writers[0] != main and writers[1] != main and writers[2] == main
    frame = pd.concat(pd.read_parquet(f) for f in (tmp_path / "logs").glob("*.parquet"))
    assert sorted(frame["i"]) == list(range(10))
    assert not list((tmp_path / "logs").glob(".*.tmp"))
