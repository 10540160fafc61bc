"""The model registry: versions of each served model and their aliases (staging, production).

Versions and aliases live in the runs database (same SQLAlchemy URL), so a team sharing one
database shares one view of what is in production. Every alias move is an event; rollback
replays the production events as a stack (promote pushes, rollback pops) and moves the alias
back in the same transaction that records the event, so two concurrent rollbacks cannot both
move it to the same place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from engine.errors import NotFoundError, UserError
from engine.store.db import database

ALIASES: tuple[str, ...] = ("staging", "production")
PRODUCTION = "production"

_metadata = MetaData()
versions_table = Table(
    "registry_versions",
    _metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("model_tag", String(256), nullable=False),
    Column("bento_tag", String(256), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("metrics", Text, nullable=False),
    Column("labels", Text, nullable=False),
)
aliases_table = Table(
    "registry_aliases",
    _metadata,
    Column("name", String(128), primary_key=True),
    Column("alias", String(32), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
events_table = Table(
    "registry_alias_events",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, index=True),
    Column("alias", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # promote | rollback
    Column("version", String(64), nullable=False),
    Column("previous", String(64), nullable=True),
    Column("at", String(40), nullable=False),
)


@dataclass(frozen=True)
class VersionRecord:
    name: str
    version: str
    model_tag: str
    bento_tag: str | None
    created_at: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AliasEvent:
    name: str
    alias: str
    action: str
    version: str
    previous: str | None
    at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def engine(url: str | None = None) -> Engine:
    """The database engine for ``url`` (default: the runs database), tables created once."""
    if url is None:
        from engine.home import db_url

        url = db_url()
    return database(_metadata, url)


def _check_alias(alias: str) -> None:
    if alias not in ALIASES:
        raise UserError(
            f"unknown alias {alias!r} (expected one of {', '.join(ALIASES)})",
            key_path="deploy.promote",
            hint="use --to staging or --to production",
        )


def record_version(
    name: str,
    version: str,
    *,
    model_tag: str,
    bento_tag: str | None,
    metrics: Mapping[str, float],
    labels: Mapping[str, str],
    url: str | None = None,
) -> VersionRecord:
    """Register a packaged version (called by ``engine.serving.package``)."""
    rec = VersionRecord(name, version, model_tag, bento_tag, _now(), dict(metrics), dict(labels))
    with engine(url).begin() as conn:
        conn.execute(
            insert(versions_table).values(
                name=name,
                version=version,
                model_tag=model_tag,
                bento_tag=bento_tag,
                created_at=rec.created_at,
                metrics=json.dumps(rec.metrics),
                labels=json.dumps(rec.labels),
            )
        )
    return rec


def _row_to_record(row: Any) -> VersionRecord:
    return VersionRecord(
        name=row.name,
        version=row.version,
        model_tag=row.model_tag,
        bento_tag=row.bento_tag,
        created_at=row.created_at,
        metrics=json.loads(row.metrics),
        labels=json.loads(row.labels),
    )


def versions(name: str, *, url: str | None = None) -> list[VersionRecord]:
    """All versions of ``name``, oldest first (empty when the model is unknown)."""
    q = (
        select(versions_table)
        .where(versions_table.c.name == name)
        .order_by(versions_table.c.created_at)
    )
    with engine(url).connect() as conn:
        return [_row_to_record(r) for r in conn.execute(q)]


def names(*, url: str | None = None) -> list[str]:
    q = select(versions_table.c.name).distinct().order_by(versions_table.c.name)
    with engine(url).connect() as conn:
        return [r[0] for r in conn.execute(q)]


def _unknown_model(name: str, url: str | None) -> NotFoundError:
    known = names(url=url)
    hint = f"known models: {', '.join(known)}" if known else "package a model with `sous run`"
    return NotFoundError(f"no model named {name!r} in the registry", hint=hint)


def get_version(name: str, version: str, *, url: str | None = None) -> VersionRecord:
    with engine(url).connect() as conn:
        row = conn.execute(
            select(versions_table).where(
                versions_table.c.name == name, versions_table.c.version == version
            )
        ).first()
    if row is not None:
        return _row_to_record(row)
    known = [v.version for v in versions(name, url=url)]
    if not known:
        raise _unknown_model(name, url)
    raise NotFoundError(
        f"model {name!r} has no version {version!r}",
        hint=f"versions: {', '.join(known[-5:])} (see `sous models ls {name}`)",
    )


def get_alias(name: str, alias: str, *, url: str | None = None) -> str | None:
    """The version ``alias`` points to, or None."""
    _check_alias(alias)
    with engine(url).connect() as conn:
        return conn.execute(
            select(aliases_table.c.version).where(
                aliases_table.c.name == name, aliases_table.c.alias == alias
            )
        ).scalar_one_or_none()


def aliases(name: str, *, url: str | None = None) -> dict[str, str]:
    """alias -> version for ``name``."""
    with engine(url).connect() as conn:
        rows = conn.execute(
            select(aliases_table.c.alias, aliases_table.c.version).where(
                aliases_table.c.name == name
            )
        )
        return {r.alias: r.version for r in rows}


def _set_alias(
    conn: Connection, name: str, alias: str, version: str, action: str, previous: str | None
) -> None:
    at = _now()
    if previous is None:
        conn.execute(
            insert(aliases_table).values(name=name, alias=alias, version=version, updated_at=at)
        )
    else:
        conn.execute(
            update(aliases_table)
            .where(aliases_table.c.name == name, aliases_table.c.alias == alias)
            .values(version=version, updated_at=at)
        )
    conn.execute(
        insert(events_table).values(
            name=name, alias=alias, action=action, version=version, previous=previous, at=at
        )
    )


def _current(conn: Connection, name: str, alias: str) -> str | None:
    # Touch the row first: the write lock serialises concurrent movers (SQLite and Postgres).
    conn.execute(
        update(aliases_table)
        .where(aliases_table.c.name == name, aliases_table.c.alias == alias)
        .values(updated_at=aliases_table.c.updated_at)
    )
    return conn.execute(
        select(aliases_table.c.version).where(
            aliases_table.c.name == name, aliases_table.c.alias == alias
        )
    ).scalar_one_or_none()


def promote(name: str, version: str, alias: str, *, url: str | None = None) -> str | None:
    """Point ``alias`` of ``name`` at ``version``; returns the version it pointed to before."""
    _check_alias(alias)
    get_version(name, version, url=url)  # NotFoundError for unknown names/versions
    with engine(url).begin() as conn:
        previous = _current(conn, name, alias)
        if previous != version:
            _set_alias(conn, name, alias, version, "promote", previous)
    return previous


def _production_stack(conn: Connection, name: str) -> list[str]:
    rows = conn.execute(
        select(events_table.c.action, events_table.c.version)
        .where(events_table.c.name == name, events_table.c.alias == PRODUCTION)
        .order_by(events_table.c.id)
    )
    stack: list[str] = []
    for action, version in rows:
        if action == "rollback":
            if stack:
                stack.pop()
        elif not stack or stack[-1] != version:
            stack.append(version)
    return stack


def rollback(name: str, *, url: str | None = None) -> str:
    """Move production back to the version it had before the current one, atomically."""
    with engine(url).begin() as conn:
        current = _current(conn, name, PRODUCTION)
        if current is None:
            if not versions(name, url=url):
                raise _unknown_model(name, url)
            raise NotFoundError(
                f"model {name!r} has no production version to roll back",
                hint=f"promote one first: `sous promote {name} VERSION --to production`",
            )
        stack = _production_stack(conn, name)
        if len(stack) < 2:
            raise NotFoundError(
                f"model {name!r}: production {current!r} has no previous production version",
                hint="promote another version instead: `sous promote NAME VERSION --to production`",
            )
        target = stack[-2]
        _set_alias(conn, name, PRODUCTION, target, "rollback", current)
    return target


def history(name: str, *, url: str | None = None) -> list[AliasEvent]:
    """Every alias move of ``name``, oldest first."""
    q = select(events_table).where(events_table.c.name == name).order_by(events_table.c.id)
    with engine(url).connect() as conn:
        return [
            AliasEvent(r.name, r.alias, r.action, r.version, r.previous, r.at)
            for r in conn.execute(q)
        ]
