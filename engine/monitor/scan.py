"""Read the request log in bounded batches and count it onto the reference's bins.

The log is a directory of parquet files (``engine.serving.runtime.reqlog``); each file is
read with pyarrow, column-projected, its row groups outside the time window skipped on their
statistics, and filtered (version, window) in batches of ``BATCH_ROWS``. Each batch is
reduced to fixed-size counts and dropped, so memory does not grow with the logged rows.

Rows of requests answered with an error (``_status`` >= 400: no feature values) are left out
of every reader but :class:`Requests`, which counts requests, 4xx and 5xx answers and latency
per version and variant in the same pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.drift.reference import Distribution, Reference

BATCH_ROWS = 131_072
LATENCY_EDGES_MS = tuple(round(0.01 * 1.25**i, 4) for i in range(80))  # 0.01 ms .. ~570 s


@dataclass
class Counts:
    """Live counts of one column on its reference's bins."""

    ref: Distribution
    counts: Any  # numpy int64 array, same length as ref.counts
    rows: int = 0
    missing: int = 0

    @classmethod
    def empty(cls, ref: Distribution) -> Counts:
        import numpy as np

        return cls(ref, np.zeros(len(ref.counts), dtype="int64"))

    def add(self, column: Any) -> None:
        """Count a pyarrow array (nulls and NaN are missing)."""
        self.rows += len(column)
        if self.ref.kind == "numeric":
            self._add_numeric(column)
        else:
            self._add_categorical(column)

    def _add_numeric(self, column: Any) -> None:
        import numpy as np
        import pyarrow as pa

        if pa.types.is_null(column.type):
            self.missing += len(column)
            return
        arr = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        nan = np.isnan(arr)
        self.missing += int(nan.sum())
        idx = np.searchsorted(np.asarray(self.ref.edges), arr[~nan], side="left")
        self.counts += np.bincount(idx, minlength=len(self.counts))[: len(self.counts)]

    def _add_categorical(self, column: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.missing += column.null_count
        if pa.types.is_null(column.type):
            return
        index = {c: i for i, c in enumerate(self.ref.categories)}
        other = len(self.counts) - 1
        for item in pc.value_counts(column.drop_null()).to_pylist():
            self.counts[index.get(_text(item["values"]), other)] += int(item["counts"])


def _text(value: Any) -> str:
    return str(value)


@dataclass
class Traffic:
    """Rows and latency per variant (``champion``/``challenger``) and role (served/shadow)."""

    rows: dict[str, int] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)  # key -> histogram counts
    first_ts: float | None = None
    last_ts: float | None = None

    def add(self, keys: Any, latency: Any, ts: Any) -> None:
        """``keys``: a pyarrow string array of ``variant/role`` per row."""
        import numpy as np
        import pyarrow.compute as pc

        for key in pc.unique(keys).to_pylist():
            mask = pc.equal(keys, key).to_numpy(zero_copy_only=False)
            k = str(key)
            self.rows[k] = self.rows.get(k, 0) + int(mask.sum())
            hist = self.latency.setdefault(k, np.zeros(len(LATENCY_EDGES_MS) + 1, dtype="int64"))
            lat = latency[mask]
            lat = lat[~np.isnan(lat)]
            hist += np.bincount(
                np.searchsorted(LATENCY_EDGES_MS, lat, side="left"), minlength=len(hist)
            )
        if len(ts):
            lo, hi = float(np.nanmin(ts)), float(np.nanmax(ts))
            self.first_ts = lo if self.first_ts is None else min(self.first_ts, lo)
            self.last_ts = hi if self.last_ts is None else max(self.last_ts, hi)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per ``variant/role``: rows and latency p50/p95/p99 (ms, bucket upper bounds)."""
        out: dict[str, dict[str, float]] = {}
        for key, n in sorted(self.rows.items()):
            hist = self.latency[key]
            out[key] = {"rows": n, **{f"p{q}_ms": _percentile(hist, q / 100) for q in (50, 95, 99)}}
        return out


def _percentile(hist: Any, q: float) -> float:
    import numpy as np

    total = int(hist.sum())
    if total == 0:
        return float("nan")
    i = int(np.searchsorted(np.cumsum(hist), q * total, side="left"))
    return LATENCY_EDGES_MS[min(i, len(LATENCY_EDGES_MS) - 1)]


@dataclass
class _RequestCounts:
    requests: int = 0
    rows: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    fallback: int = 0
    latency: Any = None  # histogram counts of request latency on LATENCY_EDGES_MS

    def summary(self) -> dict[str, float]:
        n = self.requests
        return {
            "requests": n,
            "rows": self.rows,
            "errors_4xx": self.errors_4xx,
            "errors_5xx": self.errors_5xx,
            "error_rate_4xx": self.errors_4xx / n if n else 0.0,
            "error_rate_5xx": self.errors_5xx / n if n else 0.0,
            "fallback": self.fallback,
            **{f"p{q}_ms": _percentile(self.latency, q / 100) for q in (50, 95, 99)},
        }


@dataclass
class Requests:
    """Requests per ``version/variant`` (shadow answers apart): how many, rows predicted,
    4xx and 5xx answers, answers by the fallback version, and request latency percentiles.
    Logs written before statuses were logged count each row as a request answered 200."""

    counts: dict[str, _RequestCounts] = field(default_factory=dict)

    def add(self, batch: Any) -> None:
        import numpy as np
        import pyarrow.compute as pc

        n = batch.num_rows
        role = _strings(batch, "_role", "served")
        keys = pc.binary_join_element_wise(
            _strings(batch, "_version", "?"), _strings(batch, "_variant", "champion"), "/"
        )
        shadow = pc.equal(role, "shadow")
        keys = pc.if_else(shadow, pc.binary_join_element_wise(keys, " (shadow)", ""), keys)
        status = np.nan_to_num(_floats(batch, "_status"), nan=200.0)
        first = np.nan_to_num(_floats(batch, "_req"), nan=1.0) > 0
        latency = _floats(batch, "_latency_ms")
        fallback = pc.equal(_strings(batch, "_outcome", "ok"), "fallback").to_numpy(
            zero_copy_only=False
        )
        for key in pc.unique(keys).to_pylist():
            mask = pc.equal(keys, key).to_numpy(zero_copy_only=False) if n else np.array([])
            c = self.counts.setdefault(str(key), _RequestCounts())
            if c.latency is None:
                c.latency = np.zeros(len(LATENCY_EDGES_MS) + 1, dtype="int64")
            req = mask & first
            c.requests += int(req.sum())
            c.rows += int((mask & (status < 400)).sum())
            c.errors_4xx += int((req & (status >= 400) & (status < 500)).sum())
            c.errors_5xx += int((req & (status >= 500)).sum())
            c.fallback += int((req & fallback).sum())
            lat = latency[req]
            lat = lat[~np.isnan(lat)]
            c.latency += np.bincount(
                np.searchsorted(LATENCY_EDGES_MS, lat, side="left"), minlength=len(c.latency)
            )

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: c.summary() for k, c in sorted(self.counts.items())}


@dataclass
class LiveCounts:
    """Everything one scan of the log gathers for one version."""

    rows: int
    features: dict[str, Counts]
    prediction: Counts | None
    out_of_schema: dict[str, int]
    traffic: Traffic
    requests: Requests = field(default_factory=Requests)


@dataclass(frozen=True)
class Window:
    """Which rows of the log to read: one version, a time range (epoch seconds)."""

    version: str | None = None
    since: float | None = None
    until: float | None = None
    roles: tuple[str, ...] = ("served", "shadow")
    errors: bool = False  # also the rows of requests answered with an error (no features)


def log_files(directory: str | Path) -> list[Path]:
    d = Path(directory)
    return sorted(d.glob("*.parquet")) if d.is_dir() else []


def _mask(batch: Any, window: Window) -> Any | None:
    """Rows of ``batch`` inside ``window`` (None: all of them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = batch.schema.names
    parts = []
    if "_role" in names:
        parts.append(pc.is_in(batch.column("_role"), value_set=pa.array(list(window.roles))))
    if window.version is not None:
        parts.append(pc.equal(batch.column("_version"), window.version)
                     if "_version" in names else pa.nulls(batch.num_rows, pa.bool_()))  # fmt: skip
    if window.since is not None and "_ts" in names:
        parts.append(pc.greater_equal(batch.column("_ts"), window.since))
    if window.until is not None and "_ts" in names:
        parts.append(pc.less(batch.column("_ts"), window.until))
    if not window.errors and "_status" in names:
        parts.append(_answered(batch))
    out = None
    for p in parts:
        out = p if out is None else pc.and_(out, p)
    return out


def _answered(batch: Any) -> Any:
    """Rows of requests answered with a prediction (no ``_status``: logged before statuses)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    status = batch.column("_status")
    if pa.types.is_null(status.type):
        return pa.array([True] * batch.num_rows)
    return pc.or_kleene(pc.is_null(status), pc.less(status, 400))


def _row_groups(meta: Any, names: Sequence[str], window: Window) -> list[int]:
    """Row groups whose ``_ts`` range meets the window (parquet statistics; all if none)."""
    if "_ts" not in names or (window.since is None and window.until is None):
        return list(range(meta.num_row_groups))
    j = list(names).index("_ts")
    keep = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(j).statistics
        if stats is not None and stats.has_min_max:
            if window.since is not None and stats.max < window.since:
                continue
            if window.until is not None and stats.min >= window.until:
                continue
        keep.append(i)
    return keep


def batches(
    directory: str | Path, window: Window, columns: Sequence[str], batch_rows: int = BATCH_ROWS
) -> Iterator[Any]:
    """Record batches of ``columns`` (those a file has; the window's own columns too) for
    the rows in ``window``, file by file and row group by row group.

    A synchronous reader per file (``ParquetFile.iter_batches``, no pre-buffering) holds one
    batch at a time: measured, the dataset scanner's read-ahead let memory grow with the
    log size when counting was slower than reading. Row groups outside the time window are
    skipped on their ``_ts`` statistics without being read."""
    filters = ["_role", "_version", "_ts", "_status"]
    for path in log_files(directory):
        try:
            pf = parquet_file(path)
        except OSError:  # vanished or unreadable (e.g. removed by retention meanwhile)
            continue
        names = pf.schema_arrow.names
        wanted = [c for c in dict.fromkeys([*columns, *filters]) if c in names]
        groups = _row_groups(pf.metadata, pf.schema_arrow.names, window)
        if not groups:
            continue
        for batch in pf.iter_batches(
            batch_size=batch_rows, row_groups=groups, columns=wanted, use_threads=True
        ):
            mask = _mask(batch, window)
            if mask is not None:
                batch = batch.filter(mask)
            if batch.num_rows:
                yield batch


def parquet_file(path: Path) -> Any:
    """A log file to read by row groups; a sealed one (encryption at rest) is opened in
    memory, a file at a time (a log file holds one flush: a few hundred rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.security import at_rest

    with open(path, "rb") as fh:
        sealed = at_rest.is_sealed(fh.read(len(at_rest.MAGIC)))
    if sealed:
        return pq.ParquetFile(pa.BufferReader(at_rest.read_sealed(path)))
    return pq.ParquetFile(path, pre_buffer=False)


def scan(
    directory: str | Path,
    reference: Reference,
    window: Window,
    *,
    schema_counter: Any | None = None,
    batch_rows: int = BATCH_ROWS,
) -> LiveCounts:
    """Count the logged rows of ``window`` onto ``reference``'s bins, in one pass."""
    import pyarrow.compute as pc

    feats = {name: Counts.empty(d) for name, d in reference.features.items()}
    pred = Counts.empty(reference.prediction) if reference.prediction is not None else None
    traffic = Traffic()
    requests = Requests()
    out_of_schema: dict[str, int] = {}
    rows = 0
    meta = ["_prediction", "_variant", "_role", "_latency_ms", "_ts", "_req", "_outcome"]
    every = replace(window, version=None, errors=True)  # requests of every version, errors too
    for batch in batches(directory, every, [*feats, *meta], batch_rows):
        requests.add(batch)
        batch = _of_version(batch, window)
        if not batch.num_rows:
            continue
        rows += batch.num_rows
        names = batch.schema.names
        for name, counts in feats.items():
            if name in names:
                counts.add(batch.column(name))
            else:  # a column missing from the log: every value is missing
                counts.rows += batch.num_rows
                counts.missing += batch.num_rows
        if pred is not None and "_prediction" in names:
            pred.add(_predictions(batch.column("_prediction"), reference))
        keys = pc.binary_join_element_wise(
            _strings(batch, "_variant", "champion"), _strings(batch, "_role", "served"), "/"
        )
        traffic.add(keys, _floats(batch, "_latency_ms"), _floats(batch, "_ts"))
        if schema_counter is not None:
            for col, n in schema_counter(batch).items():
                out_of_schema[col] = out_of_schema.get(col, 0) + n
    return LiveCounts(rows, feats, pred, out_of_schema, traffic, requests)


def _of_version(batch: Any, window: Window) -> Any:
    """The rows of ``batch`` that :func:`batches` gives for ``window``: its version, and
    (unless ``window.errors``) only requests answered with a prediction."""
    mask = _mask(batch, Window(version=window.version, roles=window.roles, errors=window.errors))
    return batch if mask is None else batch.filter(mask)


def _strings(batch: Any, name: str, default: str) -> Any:
    """A string column of the batch (nulls and a missing column as ``default``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if name not in batch.schema.names or pa.types.is_null(batch.column(name).type):
        return pa.array([default] * batch.num_rows, pa.string())
    return pc.fill_null(batch.column(name).cast(pa.string()), default)


def _floats(batch: Any, name: str) -> Any:
    import numpy as np
    import pyarrow as pa

    if name not in batch.schema.names:
        return np.full(batch.num_rows, np.nan)
    col = batch.column(name)
    if pa.types.is_null(col.type):
        return np.full(batch.num_rows, np.nan)
    return col.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _predictions(column: Any, reference: Reference) -> Any:
    """The logged predictions (JSON text) as an array the prediction's bins can count.

    Each distinct JSON text is decoded once (a batch holds a few classes, or numbers that
    pyarrow parses itself), not once per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = column.cast(pa.string())
    text = pc.if_else(pc.equal(text, "null"), pa.scalar(None, pa.string()), text)
    if reference.prediction is not None and reference.prediction.kind == "numeric":
        try:
            return text.cast(pa.float64())
        except (pa.ArrowInvalid, ValueError):  # e.g. a JSON string: decode row by row
            values = [None if v is None else json.loads(v) for v in text.to_pylist()]
            return pa.array([_number(v) for v in values], pa.float64())
    uniques = pc.unique(text)
    decoded = pa.array(
        [None if v is None else str(json.loads(v)) for v in uniques.to_pylist()], pa.string()
    )
    return pc.take(decoded, pc.index_in(text, value_set=uniques))


def _number(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def schema_counter(reference: Reference) -> Any | None:
    """A function counting, per column, the rows of a batch that fail the training schema's
    pandera checks (the same compiled checks as training, on the served features)."""
    spec = reference.schema_spec()
    if spec is None:
        return None
    from engine.validation import compile_schema, failure_table

    compiled = compile_schema(spec)
    columns = [c.name for c in spec.columns]

    def count(batch: Any) -> Mapping[str, int]:
        names = [c for c in columns if c in batch.schema.names]
        if not names:
            return {}
        frame = batch.select(names).to_pandas()
        _, table = failure_table(frame, compiled)
        if not len(table):
            return {}
        rows = table.dropna(subset=["row"]).drop_duplicates(["row", "column"])
        return {str(k): int(v) for k, v in rows.groupby("column").size().items()}

    return count
