"""The built-in readers: csv, parquet, json, sql, sklearn. Each is ``(options) -> DataFrame``.

Paths arrive absolute (the recipe layer resolves them); a path may be one file, a glob, or a
directory (parquet: hive-partitioned). Heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.data._util import expand_paths, sha_parts
from engine.errors import UserError, choices_hint

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy

CSV_OPTIONS = frozenset({"path", "sep", "columns", "dtype", "parse_dates", "encoding", "na_values"})
PARQUET_OPTIONS = frozenset({"path", "columns", "filters"})
JSON_OPTIONS = frozenset({"path", "lines", "orient", "columns", "parse_dates"})
SQL_OPTIONS = frozenset({"url", "path", "query", "table", "columns", "parse_dates"})
SKLEARN_OPTIONS = frozenset({"name"})
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes")


def _files(options: Mapping[str, Any]) -> list[str]:
    path = str(options["path"])
    files = expand_paths(path)
    if not files:
        raise FileNotFoundError(f"no file matches {path!r}")
    return files


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def read_csv(options: Mapping[str, Any]) -> pd.DataFrame:
    """One CSV file or a glob of them, concatenated in path order."""
    import pandas as pd

    kwargs: dict[str, Any] = {
        "sep": options.get("sep", ","),
        "usecols": _list(options.get("columns")),
        "parse_dates": _list(options.get("parse_dates")),
        "encoding": options.get("encoding"),
        "na_values": _list(options.get("na_values")),
    }
    if options.get("dtype"):
        kwargs["dtype"] = dict(options["dtype"])
    return _concat([pd.read_csv(f, **kwargs) for f in _files(options)])


def read_parquet(options: Mapping[str, Any]) -> pd.DataFrame:
    """Parquet file(s), glob or partitioned directory; ``columns`` and ``filters`` are pushed
    down to pyarrow so unneeded columns and row groups are never read."""
    import os

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    path = str(options["path"])
    if os.path.isdir(path):
        dataset = ds.dataset(path, format="parquet", partitioning="hive")
    else:
        dataset = ds.dataset(_files(options), format="parquet")
    filters = options.get("filters")
    expr = pq.filters_to_expression(_filters(filters)) if filters else None
    table = dataset.to_table(columns=_list(options.get("columns")), filter=expr)
    return table.to_pandas()


def _filters(filters: Any) -> list[tuple[str, str, Any]] | list[list[tuple[str, str, Any]]]:
    """YAML lists ``[[col, op, value], ...]`` (or a list of such lists: OR of ANDs) -> tuples."""

    def one(item: Any) -> tuple[str, str, Any]:
        if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 3:
            col, op, val = item
            return str(col), str(op), list(val) if isinstance(val, tuple) else val
        raise UserError(
            f"bad parquet filter {item!r}",
            key_path="data.sources.<name>.filters",
            hint="write each filter as [column, op, value], e.g. [year, '>=', 2024]",
        )

    items = list(filters)
    if items and all(isinstance(i, Sequence) and i and not isinstance(i[0], str) for i in items):
        return [[one(x) for x in group] for group in items]
    return [one(x) for x in items]


def read_json(options: Mapping[str, Any]) -> pd.DataFrame:
    """JSON lines by default (``lines: false`` for one JSON document per file)."""
    import pandas as pd

    lines = bool(options.get("lines", True))
    orient = options.get("orient") or ("records" if lines else None)
    frames = [pd.read_json(f, lines=lines, orient=orient) for f in _files(options)]
    frame = _concat(frames)
    columns = _list(options.get("columns"))
    if columns:
        frame = frame[columns]
    for col in _list(options.get("parse_dates")) or []:
        frame[col] = pd.to_datetime(frame[col])
    return frame


def sql_url(options: Mapping[str, Any]) -> str:
    """``url`` as given, or a SQLite URL for ``path`` (SQLite is the embedded default)."""
    if options.get("url"):
        return str(options["url"])
    return f"sqlite:///{options['path']}"


def sql_engine(options: Mapping[str, Any]) -> sqlalchemy.Engine:
    import os

    import sqlalchemy

    url = sql_url(options)
    if url.startswith("sqlite:///") and not os.path.exists(url.removeprefix("sqlite:///")):
        # SQLite would silently create an empty database; a missing file is an error.
        raise FileNotFoundError(
            f"SQLite database {url.removeprefix('sqlite:///')!r} does not exist"
        )
    return sqlalchemy.create_engine(url)


def sql_statement(options: Mapping[str, Any]) -> Any:
    """The query to run: ``query`` as text, or a SELECT over ``table`` (quoted by SQLAlchemy)."""
    import sqlalchemy

    if options.get("query"):
        return sqlalchemy.text(str(options["query"]))
    table = sqlalchemy.table(str(options["table"]))
    cols = _list(options.get("columns"))
    if cols:
        return sqlalchemy.select(*[sqlalchemy.column(c) for c in cols]).select_from(table)
    return sqlalchemy.select(sqlalchemy.text("*")).select_from(table)


def read_sql(options: Mapping[str, Any]) -> pd.DataFrame:
    """Any SQLAlchemy URL (SQLite file, PostgreSQL via ``postgresql+psycopg://``)."""
    import pandas as pd

    engine = sql_engine(options)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(
                sql_statement(options), conn, parse_dates=_list(options.get("parse_dates"))
            )
    finally:
        engine.dispose()


class SqlRowDigest:
    """The checksum of a query's result as it streams by: the URL (password hidden), the
    query, the column names and every row. Fed by :func:`sql_fingerprint` (rows hashed
    only) and by :func:`read_sql_fingerprinted` (rows also kept: the run's one read);
    both give the same fingerprint for the same rows."""

    def __init__(self, options: Mapping[str, Any]):
        import sqlalchemy

        self.url = sqlalchemy.engine.make_url(sql_url(options)).render_as_string(hide_password=True)
        self.statement = str(sql_statement(options))
        self.h = hashlib.sha256()
        self.rows = 0

    def columns(self, names: Any) -> None:
        self.h.update(repr(tuple(names)).encode())

    def add(self, batch: Any) -> None:
        for row in batch:
            self.h.update(repr(tuple(row)).encode())
        self.rows += len(batch)

    def hexdigest(self) -> str:
        return sha_parts("sql", self.url, self.statement, str(self.rows), self.h.hexdigest())


def sql_fingerprint(options: Mapping[str, Any]) -> str:
    """Hash of the URL (password hidden), the query and a checksum of every result row.

    Streams the result in batches, so memory stays bounded; cost grows with the table.
    It executes the query: a run should fingerprint the rows it reads instead
    (``read_source_fingerprinted``), and a plan should not call it at all.
    """
    digest = SqlRowDigest(options)
    engine = sql_engine(options)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(sql_statement(options))
            digest.columns(result.keys())
            while batch := result.fetchmany(SQL_BATCH_ROWS):
                digest.add(batch)
    finally:
        engine.dispose()
    return digest.hexdigest()


SQL_BATCH_ROWS = 10_000


def read_sql_fingerprinted(options: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """The query's rows and their fingerprint from one execution (equal to
    ``sql_fingerprint`` on the same rows): a run reads a query once, and its cache key
    follows exactly the rows it read."""
    import pandas as pd

    digest = SqlRowDigest(options)
    rows: list[tuple[Any, ...]] = []
    engine = sql_engine(options)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(sql_statement(options))
            columns = list(result.keys())
            digest.columns(columns)
            while batch := result.fetchmany(SQL_BATCH_ROWS):
                digest.add(batch)
                rows.extend(tuple(r) for r in batch)
    finally:
        engine.dispose()
    frame = pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)  # as read_sql
    for col in _list(options.get("parse_dates")) or []:
        frame[col] = pd.to_datetime(frame[col])
    return frame, digest.hexdigest()


def read_sklearn(options: Mapping[str, Any]) -> pd.DataFrame:
    """A bundled scikit-learn data set: feature columns plus ``target`` (int class labels for
    iris, wine, breast_cancer; float for diabetes)."""
    from sklearn import datasets

    name = str(options["name"])
    if name not in SKLEARN_DATASETS:
        raise UserError(
            f"unknown sklearn data set {name!r}",
            key_path="data.sources.<name>.name",
            hint=choices_hint(name, SKLEARN_DATASETS),
        )
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    if name != "diabetes":
        frame["target"] = frame["target"].astype("int64")
    return frame
