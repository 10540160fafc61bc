"""Processes that open a fresh runs database at the same moment all succeed (multirun jobs)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path


def _open(url: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    from engine.store import registry
    from engine.store.runs import RunsDB

    barrier.wait()
    try:
        RunsDB(url)
        registry.engine(url)
        results.put("ok")
    except Exception as exc:  # reported to the test
        results.put(f"{type(exc).__name__}: {exc}")


def test_many_processes_create_the_tables_at_once(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    n = 6
    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'runs-{attempt}.db'}"
        barrier, results = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(url, barrier, results)) for _ in range(n)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert outcomes == ["ok"] * n, outcomes
