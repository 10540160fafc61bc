"""SQL sources: a run executes the query once and fingerprints the rows it read; the
fingerprint goes through the retry loop (issue 11, the data-layer part)."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from engine.data.sources import (
    fingerprint_source,
    fingerprint_with_retries,
    read_source,
    read_source_fingerprinted,
)
from engine.errors import SourceError
from engine.specs import SourceSpec, frozen_map


def src(kind: str, **options: object) -> SourceSpec:
    return SourceSpec("crm", kind, frozen_map(options))


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (id int, score real, name text, seen text)")
        conn.executemany(
            "insert into t values (?, ?, ?, ?)",
            [
                (i, i / 3 if i % 4 else None, f"n{i}", f"2026-01-{i % 28 + 1:02d}")
                for i in range(50)
            ],
        )
    return db


@pytest.fixture
def executions() -> Iterator[list[str]]:
    """Every statement any SQLAlchemy engine sends, in this test."""
    seen: list[str] = []

    def count(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    yield seen
    event.remove(Engine, "before_cursor_execute", count)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"table": "t"}, id="table"),
        pytest.param({"query": "select id, score from t where id > 10"}, id="query"),
        pytest.param({"query": "select * from t where id < 0"}, id="no-rows"),
        pytest.param({"table": "t", "parse_dates": ["seen"]}, id="dates"),
    ],
)
def test_one_pass_equals_read_then_fingerprint(crm: Path, options: dict[str, object]) -> None:
    spec = src("sql", path=str(crm), **options)
    frame, fingerprint = read_source_fingerprinted(spec)
    pd.testing.assert_frame_equal(frame, read_source(spec))
    assert fingerprint == fingerprint_source(spec)


def test_a_run_executes_the_query_once(crm: Path, executions: list[str]) -> None:
    spec = src("sql", path=str(crm), query="select * from t")
    read_source_fingerprinted(spec)
    assert [s for s in executions if "from t" in s] == ["select * from t"]


def test_rows_read_decide_the_fingerprint(crm: Path) -> None:
    spec = src("sql", path=str(crm), table="t")
    _, before = read_source_fingerprinted(spec)
    with sqlite3.connect(crm) as conn:
        conn.execute("update t set name = 'x' where id = 3")
    _, after = read_source_fingerprinted(spec)
    assert before != after


def test_other_kinds_read_then_fingerprint(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "a.csv", index=False)
    spec = src("csv", path=str(tmp_path / "a.csv"))
    frame, fingerprint = read_source_fingerprinted(spec)
    assert frame["a"].tolist() == [1, 2] and fingerprint == fingerprint_source(spec)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(fingerprint_with_retries, id="fingerprint"),
        pytest.param(read_source_fingerprinted, id="read-once"),
    ],
)
def test_unreachable_database_is_retried_then_one_source_error(call) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql+psycopg://u:secret@127.0.0.1:{_closed_port()}/crm?connect_timeout=2"
    spec = src("sql", url=url, table="t", retries=2, retry_backoff=0.01)
    waits: list[float] = []
    with pytest.raises(SourceError) as info:
        call(spec, sleep=waits.append)
    assert waits == [0.01, 0.02]  # three attempts, backing off
    assert info.value.source == "crm" and "failed after 3 attempts" in str(info.value)
    assert "secret" not in str(info.value)
