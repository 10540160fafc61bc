"""The stream's request log: batches queue jobs, a thread writes the files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engine.stream.logflush import BackgroundLog


def _job(i: int):
    def write(log: Any) -> None:
        log.write([{"x": float(i)}], [{"prediction": i, "request_id": f"e{i}"}], version="v1")

    return write


def test_jobs_run_on_the_thread_and_close_writes_everything(tmp_path: Path) -> None:
    log = BackgroundLog(tmp_path / "requests", every_s=0.05)
    for i in range(5):
        log.submit(_job(i))
    log.close()
    files = sorted((tmp_path / "requests").glob("*.parquet"))
    rows = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    assert sorted(rows["_request_id"]) == [f"e{i}" for i in range(5)]
    assert set(rows["_version"]) == {"v1"}


def test_a_full_queue_runs_the_job_inline_and_errors_surface(tmp_path: Path) -> None:
    log = BackgroundLog(tmp_path / "requests", every_s=60, max_queued=0)
    ran: list[str] = []
    log.submit(lambda _log: ran.append("inline"))
    assert ran == ["inline"]  # no room in the queue: the batch pays for it itself
    log.max_queued = 10

    def boom(_log: Any) -> None:
        raise OSError("disk full")

    log.submit(boom)
    deadline = time.monotonic() + 60
    while log._error is None and time.monotonic() < deadline:  # the thread runs it
        time.sleep(0.01)
    assert log._thread.is_alive()  # and keeps running
    with pytest.raises(OSError, match="disk full"):
        log.submit(_job(1))
    log.close()
