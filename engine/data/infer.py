"""Bootstrap a schema from a recipe's data, for ``sous schema infer``.

What the rows show becomes checks a person then reviews: each column's dtype, whether it
has nulls, whether its values are unique, min/max for numbers, the allowed values of a
low-cardinality text column, and a flag on columns that look like personal data (by name
or by value), whose values are then never copied into the schema (no ``isin`` list of
e-mail addresses, no min/max of birth dates). Rendered as a Sous ``schema:`` block or as
pandera's own YAML (which ``schema: {pandera_yaml: PATH}`` reads back).

The rows are those the schema checks: sources read (PII masked as the recipe says) and
integrated. In memory, every row is read and at most ``sample_rows`` (a seeded sample) are
inferred from; with ``data.out_of_core``, only the base source's first partitions up to
``sample_rows`` rows are read, so inference stays bounded on data larger than memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from engine.specs import RecipeSpec

MAX_CATEGORIES = 20  # a text column with at most this many values gets an isin check
SAMPLE_ROWS = 100_000
_PII_NAME = re.compile(
    r"(^|_)(e_?mail|phone|mobile|ssn|social_security|passport|first_?name|last_?name|"
    r"full_?name|surname|name|address|street|zip|postcode|birth|dob|ip_?address|iban|card)"
    r"($|_)",
    re.IGNORECASE,
)
_KEY_NAME = re.compile(r"(^|[_ ])(id|key|uuid|guid)$|[a-z]Id$", re.IGNORECASE)
_PII_VALUES = {
    "e-mail addresses": re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+"),
    "phone numbers": re.compile(r"\+?\d[\d ()-]{7,}\d"),
    "IP addresses": re.compile(r"\d{1,3}(\.\d{1,3}){3}"),
}


@dataclass(frozen=True)
class InferredColumn:
    name: str
    dtype: str | None
    nullable: bool
    unique: bool
    checks: Mapping[str, Any] = field(default_factory=dict)
    pii: str | None = None  # why it looks like personal data

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "dtype": self.dtype, "nullable": self.nullable,
            "unique": self.unique, "checks": dict(self.checks), "pii": self.pii,
        }  # fmt: skip


@dataclass(frozen=True)
class InferredSchema:
    columns: tuple[InferredColumn, ...]
    rows: int  # rows inferred from
    sampled: bool  # fewer rows than the data has (or may have: out of core)


def sample_frame(spec: RecipeSpec, sample_rows: int = SAMPLE_ROWS) -> tuple[pd.DataFrame, bool]:
    """The integrated rows the schema would check (at most ``sample_rows``), and whether
    that is a sample."""
    from engine.data.integrate import integrate_frames
    from engine.data.pii import mask
    from engine.data.sources import read_source

    data = spec.data
    frames: dict[str, pd.DataFrame] = {}
    sampled = False
    for i, source in enumerate(data.sources):
        if i == 0 and data.out_of_core is not None:
            frame, sampled = _head(source, data.out_of_core.blocksize, sample_rows)
        else:
            frame = read_source(source)
        frames[source.name] = mask(frame, data.pii, salt_env=data.pii_salt_env)
    out = integrate_frames(frames, data).frame
    if len(out) > sample_rows:
        out, sampled = out.sample(n=sample_rows, random_state=spec.seed), True
    return out.reset_index(drop=True), sampled


def _head(source: Any, blocksize: str | int, rows: int) -> tuple[pd.DataFrame, bool]:
    """The first partitions of an out-of-core source, up to ``rows`` rows: never all of it."""
    import pandas as pd

    from engine.data.ooc import read_partitions

    ddf = read_partitions(source, blocksize)
    parts: list[pd.DataFrame] = []
    have = 0
    for i in range(ddf.npartitions):
        part = ddf.get_partition(i).compute()
        parts.append(part)
        have += len(part)
        if have >= rows:
            return pd.concat(parts, ignore_index=True).head(rows), True
    return pd.concat(parts, ignore_index=True), False


def infer(
    frame: pd.DataFrame, *, sampled: bool = False, masked: frozenset[str] = frozenset()
) -> InferredSchema:
    """A schema that ``frame`` passes, with personal-looking columns flagged (except those
    ``masked``: already hashed or redacted by ``data.pii``)."""
    columns = tuple(_column(str(c), frame[c], str(c) in masked) for c in frame.columns)
    return InferredSchema(columns, len(frame), sampled)


def _column(name: str, s: pd.Series, masked: bool) -> InferredColumn:
    values = s.dropna()
    pii = None if masked else _pii(name, values)
    kind = s.dtype.kind
    dtype = _dtype(s)
    checks: dict[str, Any] = {}
    if pii is None and not masked and len(values):
        if kind in "iuf":
            checks = {"ge": _plain(values.min()), "le": _plain(values.max())}
        elif kind not in "bMm" and _categorical(values):
            checks = {"isin": sorted(str(v) for v in values.unique())}
    # distinct numbers are unique only in a column named like a key (ages can all differ
    # by chance in a sample); distinct text (e-mails, codes) is taken as a key
    keyish = dtype == "str" or (kind in "iu" and bool(_KEY_NAME.search(name)))
    unique = len(values) > 1 and keyish and bool(values.is_unique)
    return InferredColumn(name, dtype, bool(s.isna().any()), unique, checks, pii)


def _categorical(values: pd.Series) -> bool:
    """Few distinct values, each repeated on average: a category, not free text."""
    n = values.nunique()
    return bool(n <= MAX_CATEGORIES and n * 2 <= len(values))


def _dtype(s: pd.Series) -> str | None:
    import pandas as pd

    if isinstance(s.dtype, pd.StringDtype) or s.dtype.kind in "OSU":
        return "str" if s.dropna().map(type).eq(str).all() else None
    return str(s.dtype)


def _plain(v: Any) -> int | float:
    return int(v) if float(v).is_integer() and not isinstance(v, float) else float(v)


def _pii(name: str, values: pd.Series) -> str | None:
    if _PII_NAME.search(name.replace(" ", "_")):
        return f"its name ({name!r})"
    if values.dtype.kind in "iufbMm" or not len(values):
        return None
    head = values.astype("str").head(200)
    for what, pattern in _PII_VALUES.items():
        if head.str.fullmatch(pattern).mean() > 0.5:
            return f"its values look like {what}"
    return None


# ---------------------------------------------------------------- rendering


def sous_yaml(schema: InferredSchema, *, recipe: str) -> str:
    """A ``schema:`` block for the recipe, one line per column, PII flagged in comments."""
    import yaml

    where = f"a sample of {schema.rows} rows" if schema.sampled else f"all {schema.rows} rows"
    lines = [
        f"# inferred by `sous schema infer {recipe}` from {where}: review before use",
        "schema:",
        "  columns:",
    ]
    for col in schema.columns:
        if col.pii:
            lines.append(
                f"    # {col.name}: looks like personal data ({col.pii}); consider "
                f"data.pii: {{{col.name}: hash}} (or drop)"
            )
        spec: dict[str, Any] = {}
        if col.dtype:
            spec["dtype"] = col.dtype
        spec["nullable"] = col.nullable
        if col.unique:
            spec["unique"] = True
        if col.checks:
            spec["checks"] = dict(col.checks)
        text = yaml.safe_dump(
            {col.name: spec}, default_flow_style=True, sort_keys=False, width=1_000_000
        ).strip()
        lines.append("    " + text[1:-1])  # one line per column: `name: {dtype: ..., ...}`
    return "\n".join(lines) + "\n"


def pandera_yaml(schema: InferredSchema) -> str:
    """The same checks as pandera's ``DataFrameSchema.to_yaml()`` writes them."""
    import pandera.pandas as pa

    columns = {}
    for col in schema.columns:
        checks = []
        for name, value in col.checks.items():
            checks.append(
                pa.Check.isin(value) if name == "isin" else getattr(pa.Check, name)(value)
            )
        columns[col.name] = pa.Column(
            col.dtype, checks=checks, nullable=col.nullable, unique=col.unique
        )
    return str(pa.DataFrameSchema(columns).to_yaml())
