"""One way to open the runs database: an engine per URL, tables created race-free.

Several processes (multirun jobs on Dask workers, a server and a CLI) may open a fresh
database at the same moment; `create_all` checks then creates, so two of them can both try
to create a table. The loser's "already exists" is not an error: the table is there.
"""

from __future__ import annotations

import time

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

_engines: dict[str, Engine] = {}
_ready: set[tuple[int, str]] = set()  # (metadata, url) whose tables exist


def database(metadata: MetaData, url: str) -> Engine:
    """The engine for ``url`` (one per process), with ``metadata``'s tables created once."""
    if url not in _engines:
        _engines[url] = create_engine(url, future=True)
    engine = _engines[url]
    if (id(metadata), url) not in _ready:
        create_tables(metadata, engine)
        _ready.add((id(metadata), url))
    return engine


def create_tables(metadata: MetaData, engine: Engine, attempts: int = 5) -> None:
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError) as exc:
            text = str(exc).lower()
            if ("already exists" not in text and "locked" not in text) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))  # another process is creating it: look again
