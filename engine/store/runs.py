"""The runs database: one record per run, in SQLite by default (any SQLAlchemy URL for a team).

A record is stored as JSON next to a few indexed columns; the JSON shape is the public
contract of ``sous runs show ID --json``. With encryption at rest on, the JSON is sealed
(:mod:`engine.security.at_rest`: the record holds the data profile, whose most frequent
values are feature values); the indexed columns stay plain. Read the ``record`` column
with :func:`parse_record`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import NotFoundError
from engine.security import at_rest
from engine.store.db import busy_timeout, database, retry_locked, tighten


@dataclass(frozen=True)
class _Schema:
    metadata: Any
    table: Any


@functools.cache
def _schema() -> _Schema:
    """The runs table, built on first use: a run that only writes its record into an
    existing SQLite file never imports SQLAlchemy (see :meth:`RunsDB.start`)."""
    from sqlalchemy import Column, MetaData, String, Table, Text

    metadata = MetaData()
    table = Table(
        "runs",
        metadata,
        Column("run_id", String(64), primary_key=True),
        Column("recipe", String(256), index=True),
        Column("status", String(16), index=True),
        Column("started_at", String(40), index=True),
        Column("finished_at", String(40), nullable=True),
        Column("group_id", String(64), nullable=True, index=True),
        Column("record", Text, nullable=False),
    )
    return _Schema(metadata, table)


def __getattr__(name: str) -> Any:
    """``runs_table`` (and ``_metadata``), built when first asked for."""
    if name == "runs_table":
        return _schema().table
    if name == "_metadata":
        return _schema().metadata
    raise AttributeError(name)


_SQLITE = "sqlite:///"
_INSERT = (
    "INSERT INTO runs (run_id, recipe, status, started_at, finished_at, group_id, record) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE = "UPDATE runs SET status = ?, finished_at = ?, record = ? WHERE run_id = ?"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    import secrets

    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class RunsDB:
    """Run records: insert at start, update at the end, list and fetch."""

    def __init__(self, url: str):
        self.url = url
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (tables created on first use)."""
        if self._engine is None:
            self._engine = database(_schema().metadata, self.url)
        return self._engine

    def start(self, record: Mapping[str, Any], group_id: str | None = None) -> None:
        row = (
            record["run_id"],
            record["recipe"],
            record["status"],
            record["started_at"],
            record.get("finished_at"),
            group_id,
            dump_record(record),
        )
        if not self._sqlite_write(_INSERT, row):
            self._start(record, group_id)

    def finish(self, record: Mapping[str, Any]) -> None:
        row = (record["status"], record.get("finished_at"), dump_record(record), record["run_id"])
        if not self._sqlite_write(_UPDATE, row):
            self._finish(record)

    def _sqlite_write(self, sql: str, row: tuple[Any, ...]) -> bool:
        """One statement straight into an existing SQLite database with the runs table, as
        the engine would (WAL, busy timeout): the two writes of every run skip importing
        SQLAlchemy. False on anything else (another database, a new or damaged file, a lock
        still held): the SQLAlchemy path then does it, with its retries and its errors."""
        import sqlite3

        if not self.url.startswith(_SQLITE) or self.url == _SQLITE + ":memory:":
            return False
        path = Path(self.url[len(_SQLITE) :])
        if not path.is_file() or path.stat().st_size == 0:
            return False
        tighten(path)
        timeout = busy_timeout()
        try:
            conn = sqlite3.connect(path, timeout=timeout)
        except sqlite3.Error:
            return False
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            with conn:
                conn.execute(sql, row)
        except sqlite3.Error:
            return False
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        return True

    @retry_locked
    def _start(self, record: Mapping[str, Any], group_id: str | None = None) -> None:
        runs_table = _schema().table
        with self.engine.begin() as conn:
            conn.execute(
                runs_table.insert().values(
                    run_id=record["run_id"],
                    recipe=record["recipe"],
                    status=record["status"],
                    started_at=record["started_at"],
                    finished_at=record.get("finished_at"),
                    group_id=group_id,
                    record=dump_record(record),
                )
            )

    @retry_locked
    def _finish(self, record: Mapping[str, Any]) -> None:
        from sqlalchemy import update

        runs_table = _schema().table
        with self.engine.begin() as conn:
            conn.execute(
                update(runs_table)
                .where(runs_table.c.run_id == record["run_id"])
                .values(
                    status=record["status"],
                    finished_at=record.get("finished_at"),
                    record=dump_record(record),
                )
            )

    def get(self, run_id: str) -> dict[str, Any]:
        from sqlalchemy import select

        runs_table = _schema().table
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs_table.c.record).where(runs_table.c.run_id == run_id)
            ).first()
            if row is None:
                row = conn.execute(
                    select(runs_table.c.record).where(runs_table.c.run_id.like(f"{run_id}%"))
                ).first()
        if row is None:
            raise NotFoundError(
                f"no run with id {run_id!r}", hint="list the runs with `sous runs ls`"
            )
        return _live_status(parse_record(row[0]))

    def list(self, limit: int = 50, group_id: str | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import select

        runs_table = _schema().table
        query = select(runs_table.c.record).order_by(runs_table.c.started_at.desc()).limit(limit)
        if group_id is not None:
            query = query.where(runs_table.c.group_id == group_id)
        with self.engine.connect() as conn:
            return [_live_status(parse_record(r[0])) for r in conn.execute(query)]

    def last(self) -> dict[str, Any]:
        runs = self.list(limit=1)
        if not runs:
            raise NotFoundError("there are no runs yet", hint="start one with `sous run RECIPE`")
        return runs[0]

    def group_of(self, run_id: str) -> str | None:
        from sqlalchemy import select

        runs_table = _schema().table
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs_table.c.group_id).where(runs_table.c.run_id == run_id)
            ).first()
        return None if row is None else row[0]


def dump_record(record: Mapping[str, Any]) -> str:
    """The ``record`` column's text: JSON, sealed when encryption at rest is on."""
    text = json.dumps(record, default=str)
    return at_rest.seal(text.encode()).decode("ascii") if at_rest.enabled() else text


def parse_record(text: str | bytes) -> dict[str, Any]:
    """A ``record`` column's record (opened if sealed: a clear error without the key)."""
    data = text.encode() if isinstance(text, str) else text
    return dict(json.loads(at_rest.unseal(data, where="a run record in the runs database")))


def _live_status(record: dict[str, Any]) -> dict[str, Any]:
    """A run still marked running whose driver process is gone (killed, machine restarted)
    was interrupted: say so instead of "running" forever. Its finished steps are cached."""
    if record.get("status") != "running" or record.get("host") != socket.gethostname():
        return record
    pid = record.get("pid")
    if isinstance(pid, int) and not _alive(pid):
        record["status"] = "interrupted"
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
