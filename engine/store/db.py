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


def engine_for(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = create_engine(url, future=True)
    return _engines[url]


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
