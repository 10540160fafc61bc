"""One way to open the runs database: an engine per URL, tables created race-free, SQLite
made robust for several processes, and its failures told in one line.

Several processes (multirun jobs on Dask workers, a server and a CLI) may open a fresh
database at the same moment; `create_all` checks then creates, so two of them can both try
to create a table. The loser's "already exists" is not an error: the table is there.

SQLite runs in WAL mode (readers never wait for a writer) with a busy timeout; a write that
still finds the database locked is retried with backoff (:func:`retry_locked`), then fails
with :class:`DatabaseBusy`. A file that is not a database any more (truncated, overwritten)
fails every statement with :class:`DatabaseCorrupt`, naming the file and how to recover,
instead of a raw ``sqlite3.DatabaseError``. A new SQLite file is created owner-only (0600),
an existing one is made so when opened.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from engine.errors import RunError

if TYPE_CHECKING:  # imported where used: a run that only writes its record skips SQLAlchemy
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Engine

TIMEOUT_ENV = "SOUS_DB_TIMEOUT"  # seconds a statement waits for a lock (default 10)
ATTEMPTS = 4  # a locked write is tried this many times, with backoff between tries

_engines: dict[str, Engine] = {}
_ready: set[tuple[int, str]] = set()  # (metadata, url) whose tables exist

P = ParamSpec("P")
R = TypeVar("R")


class DatabaseCorrupt(RunError):
    """The runs database file is not a readable SQLite database."""

    def __init__(self, path: str, detail: str):
        self.path = path
        super().__init__(
            f"the runs database {path} is damaged ({detail}): restore a backup with "
            f"`sous db restore BACKUP`, or move the file aside to start an empty one "
            f"(run history and registry are then lost)"
        )


class DatabaseBusy(RunError):
    """The runs database stayed locked by another process past every retry."""

    def __init__(self, path: str, waited_s: float):
        self.path = path
        super().__init__(
            f"the runs database {path} stayed locked by another process for {waited_s:.0f} s; "
            f"retry when it finishes (see `fuser {path}`), or raise ${TIMEOUT_ENV}"
        )


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and for in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "")


def busy_timeout() -> float:
    return float(os.environ.get(TIMEOUT_ENV) or 10.0)


def database(metadata: MetaData, url: str) -> Engine:
    """The engine for ``url`` (one per process), with ``metadata``'s tables created once."""
    if url not in _engines:
        _engines[url] = _create(url)
    engine = _engines[url]
    if (id(metadata), url) not in _ready:
        retry_locked(create_tables)(metadata, engine)
        _ready.add((id(metadata), url))
    return engine


def forget(url: str) -> None:
    """Drop this process's engine for ``url`` (after the file was replaced by a restore)."""
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()
    for entry in [r for r in _ready if r[1] == url]:
        _ready.discard(entry)


def _create(url: str) -> Engine:
    from sqlalchemy import create_engine, event

    path = sqlite_path(url)
    if path is None:
        return create_engine(url, future=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # owner-only from the start
    tighten(path)
    timeout = busy_timeout()
    engine = create_engine(url, future=True, connect_args={"timeout": timeout})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            cur.execute("PRAGMA journal_mode = WAL")
        except Exception as exc:  # a damaged file fails already here
            raise _translate(exc, str(path)) or exc from None
        finally:
            cur.close()

    @event.listens_for(engine, "handle_error")
    def _one_line(context: Any) -> None:
        err = _translate(context.original_exception, str(path))
        if err is not None:
            raise err from None
        with contextlib.suppress(AttributeError, TypeError):  # for DatabaseBusy's message
            context.original_exception.sous_db_path = str(path)

    return engine


def tighten(path: Path) -> None:
    """Make an existing database owner-only, with its WAL and shared-memory files (SQLite
    gives those the database's mode): files made by older versions, or copied in with a
    looser mode, are tightened when opened. A file owned by someone else is left as it is."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            st = os.stat(p)
            if st.st_uid == os.getuid() and st.st_mode & 0o077:
                os.chmod(p, 0o600)


_CORRUPT = ("file is not a database", "malformed", "file is encrypted", "disk image")


def _translate(exc: BaseException, path: str) -> RunError | None:
    """A damaged file -> DatabaseCorrupt; anything else is left as it is."""
    import sqlite3

    text = str(exc).lower()
    if isinstance(exc, sqlite3.DatabaseError) and any(s in text for s in _CORRUPT):
        return DatabaseCorrupt(path, str(exc))
    return None


def _is_locked(exc: BaseException) -> bool:
    from sqlalchemy.exc import OperationalError

    text = str(exc).lower()
    return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)


def retry_locked(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` (a whole transaction) again when SQLite reports the database locked,
    with backoff; :class:`DatabaseBusy` when every try found it locked."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = time.monotonic()
        for attempt in range(ATTEMPTS):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # SQLAlchemy's OperationalError (imported only then)
                if not _is_locked(exc):
                    raise
                if attempt == ATTEMPTS - 1:
                    raise DatabaseBusy(_path_of(exc), time.monotonic() - start) from None
                time.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    return wrapper


def _path_of(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(getattr(orig, "sous_db_path", "") or "(the runs database)")


def create_tables(metadata: MetaData, engine: Engine, attempts: int = 5) -> None:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError) as exc:
            text = str(exc).lower()
            if "already exists" not in text or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))  # another process is creating it: look again
