"""Out-of-core ingest and validation on dask.dataframe partitions.

One partition at a time is read, PII-masked, transformed (row-local steps only: rename,
cast, joins against small lookup tables), validated and written out as parquet: good rows
to ``good/``, quarantined rows to ``quarantine/``, the failure table to ``failures/``.
Peak memory is about one partition, whatever the dataset's size. Failures of ALL partitions
are collected before a ``fail`` policy stops the run; checks that need the whole dataset
(uniqueness across partitions, row-count bounds) are carried across partitions.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import CheckFailure, DataValidationError, UserError
from engine.security import at_rest

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

    from engine.specs import DataSpec, SchemaSpec, SourceSpec
    from engine.validation import CheckRegistry

OOC_KINDS = ("csv", "parquet", "json")
Transform = Callable[["pd.DataFrame"], "pd.DataFrame"]


@dataclass(frozen=True)
class OocResult:
    rows_in: int
    rows_good: int
    rows_quarantined: int
    partitions: int
    failures: tuple[CheckFailure, ...]
    good_dir: str
    quarantine_dir: str
    failures_dir: str


def read_partitions(source: SourceSpec, blocksize: str | int = "64MB") -> dd.DataFrame:
    """A lazy dask frame over the source's files; nothing is read yet."""
    import dask.dataframe as dd

    opts = dict(source.options)
    if source.kind not in OOC_KINDS:
        raise UserError(
            f"out-of-core ingest reads {', '.join(OOC_KINDS)}, not {source.kind!r}",
            key_path=f"data.sources.{source.name}.kind",
            hint="export the source to parquet first, or load it in memory",
        )
    path = str(opts["path"])
    if source.kind == "csv":
        return dd.read_csv(path, blocksize=blocksize, parse_dates=opts.get("parse_dates"))
    if source.kind == "json":
        return dd.read_json(path, lines=bool(opts.get("lines", True)), blocksize=blocksize)
    filters = [tuple(f) for f in opts["filters"]] if opts.get("filters") else None
    return dd.read_parquet(path, columns=opts.get("columns"), filters=filters)


def row_local_transform(data: DataSpec, lookups: Mapping[str, pd.DataFrame]) -> Transform:
    """rename + cast + joins against small in-memory ``lookups``: the integration steps that
    can run partition by partition (a broadcast join). Union, as-of and dedupe need the
    whole dataset and are refused."""
    from engine.data.integrate import apply_op, cast

    for i, op in enumerate(data.integrate):
        if op.op != "join" or op.options.get("how", "left") == "outer":
            raise UserError(
                f"{op.op} cannot run partition by partition",
                key_path=f"data.integrate[{i}]",
                hint="out-of-core integration supports left/inner joins against small sources",
            )

    def transform(frame: pd.DataFrame) -> pd.DataFrame:
        for i, op in enumerate(data.integrate):
            frame = apply_op(frame, op, lookups, f"data.integrate[{i}]")
        if data.rename:
            frame = frame.rename(columns=dict(data.rename))
        return cast(frame, data.cast) if data.cast else frame

    return transform


class _Uniqueness:
    """Keys seen in earlier partitions (64-bit hashes: 8 bytes per distinct key)."""

    def __init__(self, keys: list[list[str]]) -> None:
        self.keys = keys
        self.seen: list[set[int]] = [set() for _ in keys]

    def duplicates(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Failure-table rows for keys already seen in an earlier partition."""
        import pandas as pd

        records = []
        for cols, seen in zip(self.keys, self.seen, strict=True):
            if not set(cols) <= set(frame.columns):
                continue
            hashes = pd.util.hash_pandas_object(frame[cols], index=False).to_numpy()
            for pos, h in enumerate(hashes):
                if int(h) in seen:
                    label = "unique" if len(cols) == 1 else f"unique({', '.join(cols)})"
                    records.append({"row": frame.index[pos], "column": cols[0], "check": label,
                                    "value": str(frame[cols].iloc[pos].tolist())})  # fmt: skip
            seen.update(int(h) for h in hashes)
        return pd.DataFrame.from_records(records, columns=["row", "column", "check", "value"])


def _unique_keys(schema: SchemaSpec) -> list[list[str]]:
    keys = [[c.name] for c in schema.columns if c.unique]
    unique = schema.checks.get("unique")
    if unique:
        keys.append([unique] if isinstance(unique, str) else [str(u) for u in unique])
    return keys


def _partition_schema(schema: SchemaSpec) -> SchemaSpec:
    """Row-count bounds are checked on the total, never per partition."""
    checks = {k: v for k, v in schema.checks.items() if k not in ("min_rows", "max_rows")}
    return dataclasses.replace(schema, checks=checks)


class _Collector:
    """Failures summed over partitions, examples capped."""

    def __init__(self, max_examples: int) -> None:
        self.max_examples = max_examples
        self.by_key: dict[tuple[str, str | None], CheckFailure] = {}

    def add(self, failures: tuple[CheckFailure, ...] | list[CheckFailure]) -> None:
        for f in failures:
            old = self.by_key.get((f.check, f.column))
            if old is None:
                self.by_key[(f.check, f.column)] = f
            else:
                examples = (old.examples + f.examples)[: self.max_examples]
                self.by_key[(f.check, f.column)] = CheckFailure(
                    f.check, f.column, old.failed_rows + f.failed_rows, examples
                )

    def all(self) -> tuple[CheckFailure, ...]:
        return tuple(self.by_key.values())


def _partitions(ddf: dd.DataFrame) -> Iterator[pd.DataFrame]:
    """One partition at a time; arrow's pool hands freed buffers back between them."""
    import pyarrow as pa

    for part in ddf.to_delayed():
        yield part.compute(scheduler="synchronous")
        pa.default_memory_pool().release_unused()


def ingest_partitioned(
    source: SourceSpec,
    schema: SchemaSpec,
    *,
    target: str,
    out_dir: str | Path,
    pii: Mapping[str, str] | None = None,
    salt_env: str = "SOUS_PII_SALT",
    transform: Transform | None = None,
    blocksize: str | int = "64MB",
    checks: CheckRegistry | None = None,
) -> OocResult:
    """Ingest ``source`` partition by partition into ``out_dir`` (see the module docstring)."""
    from engine.data.pii import mask

    ddf = read_partitions(source, blocksize)
    out = Path(out_dir)
    dirs = {name: out / name for name in ("good", "quarantine", "failures")}
    for d in dirs.values():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    state = _State(schema, _Collector(schema.max_examples), _Uniqueness(_unique_keys(schema)))
    for i, part in enumerate(_partitions(ddf)):
        part = mask(part, pii or {}, salt_env=salt_env)
        if transform is not None:
            part = transform(part)
        state.process(i, part.reset_index(drop=True), target, dirs, checks)
    state.check_totals()
    failures = state.collector.all()
    if state.fatal or (schema.on_failure == "fail" and failures):
        shutil.rmtree(dirs["good"], ignore_errors=True)
        raise DataValidationError(failures, report_path=str(dirs["failures"]))
    return OocResult(
        rows_in=state.rows_in, rows_good=state.rows_good, rows_quarantined=state.rows_quarantined,
        partitions=state.partitions, failures=failures, good_dir=str(dirs["good"]),
        quarantine_dir=str(dirs["quarantine"]), failures_dir=str(dirs["failures"]),
    )  # fmt: skip


@dataclass
class _State:
    schema: SchemaSpec
    collector: _Collector
    uniqueness: _Uniqueness
    rows_in: int = 0
    rows_good: int = 0
    rows_quarantined: int = 0
    partitions: int = 0
    fatal: bool = False

    def process(
        self, i: int, part: pd.DataFrame, target: str, dirs: Mapping[str, Path], checks: Any
    ) -> None:
        """Validate one partition and write its three outputs; rows are numbered globally."""
        import pandas as pd

        from engine.validation import summarise, validate_frame, with_reasons

        offset = self.rows_in
        self.rows_in += len(part)
        self.partitions += 1
        part.index = pd.RangeIndex(offset, offset + len(part))
        policy = "warn" if self.schema.on_failure == "fail" else self.schema.on_failure
        spec = dataclasses.replace(_partition_schema(self.schema), on_failure=policy)
        try:
            res = validate_frame(part, spec, target=target, registry=checks, keep_index=True)
        except DataValidationError as err:  # a failure no row can carry: collect, go on
            self.collector.add(err.failures)
            self.fatal = True
            return
        dups = self.uniqueness.duplicates(res.frame)
        table = (
            pd.concat([res.failure_table, dups], ignore_index=True)
            if len(dups)
            else res.failure_table
        )
        self.collector.add(
            summarise(dups, rows=len(part), max_examples=self.schema.max_examples)
            if len(dups)
            else ()
        )
        self.collector.add(res.failures)
        good, quarantine = res.frame, res.quarantine
        if len(dups) and policy == "quarantine":
            bad = dups["row"].astype(int).tolist()
            quarantine = pd.concat([quarantine, with_reasons(part, dups)])
            good = good.drop(index=bad)
        name = f"part-{i:05d}.parquet"
        if len(good):
            good.to_parquet(dirs["good"] / name)  # read back by Dask: plain (docs/security.md)
        for key, frame in (("quarantine", quarantine), ("failures", table)):
            if len(frame):  # for people only: sealed when encryption at rest is on
                at_rest.write_sealed(dirs[key] / name, frame.to_parquet())
        self.rows_good += len(good)
        self.rows_quarantined += len(quarantine)

    def check_totals(self) -> None:
        """min_rows / max_rows on the dataset's total, after quarantine."""
        for name, ok in (
            ("min_rows", lambda n, total: total >= n),
            ("max_rows", lambda n, total: total <= n),
        ):
            n = self.schema.checks.get(name)
            if n is not None and not ok(int(n), self.rows_good):
                self.collector.add(
                    [
                        CheckFailure(
                            f"{name}({n})", None, self.rows_good, (f"{self.rows_good} rows",)
                        )
                    ]
                )
                self.fatal = self.fatal or self.schema.on_failure != "warn"
