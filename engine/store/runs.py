"""The runs database: one record per run, in SQLite by default (any SQLAlchemy URL for a team).

A record is stored as JSON next to a few indexed columns; the JSON shape is the public
contract of ``sous runs show ID --json``. With encryption at rest on, the JSON is sealed
(:mod:`engine.security.at_rest`: the record holds the data profile, whose most frequent
values are feature values); the indexed columns stay plain. Read the ``record`` column
with :func:`parse_record`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, select, update

from engine.errors import NotFoundError
from engine.security import at_rest
from engine.store.db import database, retry_locked

_metadata = MetaData()
runs_table = Table(
    "runs",
    _metadata,
    Column("run_id", String(64), primary_key=True),
    Column("recipe", String(256), index=True),
    Column("status", String(16), index=True),
    Column("started_at", String(40), index=True),
    Column("finished_at", String(40), nullable=True),
    Column("group_id", String(64), nullable=True, index=True),
    Column("record", Text, nullable=False),
)


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
        self.engine = database(_metadata, url)

    @retry_locked
    def start(self, record: Mapping[str, Any], group_id: str | None = None) -> None:
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
    def finish(self, record: Mapping[str, Any]) -> None:
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
