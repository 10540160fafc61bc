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
from engine.store.db import database, retry_locked

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
    Column("actor", String(256), nullable=True),  # user@host pid N
    Column("reason", Text, nullable=True),
    Column("run_id", String(64), nullable=True),  # the run that moved it (None: by hand)
    Column("forced", Integer, nullable=True),  # 1: production without a passed smoke test
)
smoke_table = Table(
    "registry_smoke",
    _metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("passed", Integer, nullable=False),
    Column("at", String(40), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("detail", Text, nullable=True),
)
_AUDIT_COLUMNS = {
    "actor": "VARCHAR(256)",
    "reason": "TEXT",
    "run_id": "VARCHAR(64)",
    "forced": "INTEGER",
}  # added to an alias-event table made by an older Sous


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
    """One alias move, with who made it and why (``actor`` None: recorded before auditing)."""

    name: str
    alias: str
    action: str
    version: str
    previous: str | None
    at: str
    actor: str | None = None
    reason: str | None = None
    run_id: str | None = None
    forced: bool = False


@dataclass(frozen=True)
class Mover:
    """Who moves an alias, and why: recorded with every event."""

    reason: str | None = None
    run_id: str | None = None
    force: bool = False

    @staticmethod
    def actor() -> str:
        import getpass
        import os
        import socket

        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = f"uid{os.getuid()}"
        return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def engine(url: str | None = None) -> Engine:
    """The database engine for ``url`` (default: the runs database), tables created once."""
    if url is None:
        from engine.home import db_url

        url = db_url()
    eng = database(_metadata, url)
    if url not in _migrated:
        _add_audit_columns(eng)
        _migrated.add(url)
    return eng


_migrated: set[str] = set()


@retry_locked
def _add_audit_columns(eng: Engine) -> None:
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import DBAPIError

    have = {c["name"] for c in inspect(eng).get_columns(events_table.name)}
    for column, kind in _AUDIT_COLUMNS.items():
        if column in have:
            continue
        try:  # one transaction each: on PostgreSQL a failed statement ends its transaction
            with eng.begin() as conn:
                conn.execute(text(f"ALTER TABLE {events_table.name} ADD COLUMN {column} {kind}"))
        except DBAPIError as exc:  # another process added it first
            text_ = str(exc).lower()
            if "duplicate column" not in text_ and "already exists" not in text_:
                raise


def _check_alias(alias: str) -> None:
    if alias not in ALIASES:
        raise UserError(
            f"unknown alias {alias!r} (expected one of {', '.join(ALIASES)})",
            key_path="deploy.promote",
            hint="use --to staging or --to production",
        )


@retry_locked
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
    conn: Connection,
    name: str,
    alias: str,
    version: str,
    action: str,
    previous: str | None,
    mover: Mover,
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
            name=name,
            alias=alias,
            action=action,
            version=version,
            previous=previous,
            at=at,
            actor=Mover.actor(),
            reason=mover.reason,
            run_id=mover.run_id,
            forced=int(mover.force),
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


@retry_locked
def promote(
    name: str,
    version: str,
    alias: str,
    *,
    url: str | None = None,
    mover: Mover = Mover(),
) -> str | None:
    """Point ``alias`` of ``name`` at ``version``; returns the version it pointed to before.
    Production takes only a version that passed its smoke test, unless ``mover.force``
    (recorded with the event)."""
    _check_alias(alias)
    get_version(name, version, url=url)  # NotFoundError for unknown names/versions
    forced = False
    if alias == PRODUCTION and smoke_passed(name, version, url=url) is not True:
        if not mover.force:
            raise UserError(
                f"{name} version {version} never passed its smoke test: not promoted to production",
                key_path="deploy.promote",
                hint=f"re-run its recipe so the smoke test runs, or override (recorded): "
                f"sous promote {name} {version} --to production --force --reason TEXT",
            )
        forced = True
    with engine(url).begin() as conn:
        previous = _current(conn, name, alias)
        if previous != version:
            _set_alias(
                conn,
                name,
                alias,
                version,
                "promote",
                previous,
                Mover(mover.reason, mover.run_id, forced),
            )
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


@retry_locked
def rollback(name: str, *, url: str | None = None, mover: Mover = Mover()) -> str:
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
        _set_alias(conn, name, PRODUCTION, target, "rollback", current, mover)
    return target


def history(name: str, *, url: str | None = None) -> list[AliasEvent]:
    """Every alias move of ``name``, oldest first."""
    q = select(events_table).where(events_table.c.name == name).order_by(events_table.c.id)
    with engine(url).connect() as conn:
        return [
            AliasEvent(
                r.name,
                r.alias,
                r.action,
                r.version,
                r.previous,
                r.at,
                r.actor,
                r.reason,
                r.run_id,
                bool(r.forced),
            )
            for r in conn.execute(q)
        ]


@retry_locked
def record_smoke(
    name: str,
    version: str,
    passed: bool,
    *,
    run_id: str | None = None,
    detail: str | None = None,
    url: str | None = None,
) -> None:
    """Remember a version's smoke-test outcome (the latest one counts)."""
    values = {"passed": int(passed), "at": _now(), "run_id": run_id, "detail": detail}
    with engine(url).begin() as conn:
        done = conn.execute(
            update(smoke_table)
            .where(smoke_table.c.name == name, smoke_table.c.version == version)
            .values(**values)
        )
        if not done.rowcount:
            conn.execute(insert(smoke_table).values(name=name, version=version, **values))


def smoke_passed(name: str, version: str, *, url: str | None = None) -> bool | None:
    """Whether ``version`` passed its smoke test: True, False, or None (never ran: the run
    was killed after packaging, or the recipe has ``deploy.smoke: false``)."""
    with engine(url).connect() as conn:
        passed = conn.execute(
            select(smoke_table.c.passed).where(
                smoke_table.c.name == name, smoke_table.c.version == version
            )
        ).scalar_one_or_none()
    if passed is not None:
        return bool(passed)
    return _smoke_in_run_record(name, version, url)


def _smoke_in_run_record(name: str, version: str, url: str | None) -> bool | None:
    """Versions packaged before smoke outcomes were kept here: their run's record says."""
    from engine.store.runs import RunsDB

    run_id = get_version(name, version, url=url).labels.get("run_id")
    if not run_id:
        return None
    if url is None:
        from engine.home import db_url

        url = db_url()
    try:
        record = RunsDB(url).get(run_id)
    except NotFoundError:
        return None
    smoke = record.get("smoke") if record.get("model_version") == version else None
    return bool(smoke.get("passed")) if isinstance(smoke, dict) else None


def latest_smoke_tested(name: str, *, url: str | None = None) -> str:
    """The newest version of ``name`` that passed its smoke test (for ``sous serve NAME``
    when no alias is set); a UserError when none did."""
    known = versions(name, url=url)
    if not known:
        raise _unknown_model(name, url)
    for rec in reversed(known):
        if smoke_passed(name, rec.version, url=url):
            return rec.version
    raise UserError(
        f"{name} has no staging or production version, and none of its "
        f"{len(known)} version(s) passed a smoke test: refusing to serve an untested model",
        hint=f"name one explicitly (sous serve {name}:{known[-1].version}), or promote one "
        f"(sous promote {name} VERSION --to staging)",
    )
