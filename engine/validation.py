"""Schema checks declared in YAML, compiled to pandera, and the three failure policies.

``fail`` stops the run with a capped report; ``warn`` keeps every row and reports;
``quarantine`` moves failing rows (with every check each one failed) aside and lets good
rows go on. Rows with a null target are always quarantined: nothing can learn from them.
Failures that no row can carry (a wrong dtype for a whole column, a missing or unexpected
column, row-count bounds) cannot be quarantined: under ``quarantine`` they stop the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import (
    CheckFailure,
    DataValidationError,
    Problem,
    RecipeError,
    UserError,
    choices_hint,
    did_you_mean,
)

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa

    from engine.specs import SchemaSpec

COLUMN_CHECKS = (
    "ge", "gt", "le", "lt", "in_range", "isin", "notin", "regex", "str_matches", "str_length", "custom",
)  # fmt: skip
FRAME_CHECKS = ("unique", "min_rows", "max_rows")
TARGET_NULL = "target is null"
CHECKS_ENTRY_POINT_GROUP = "sous.checks"
# pandera's names for the checks it adds itself -> the YAML word the user wrote.
_PANDERA_NAMES = {
    "not_nullable": "nullable",
    "field_uniqueness": "unique",
    "multiple_fields_uniqueness": "unique",
    "column_in_schema": "strict",
    "column_in_dataframe": "required",
}


@dataclass(frozen=True)
class CustomCheck:
    """A user check: ``fn(series) -> bool Series`` (or ``fn(value) -> bool`` if element_wise)."""

    name: str
    fn: Callable[[Any], Any]
    element_wise: bool = False


class CheckRegistry:
    """Custom checks by name, for ``checks: {custom: NAME}``; filled explicitly."""

    def __init__(self, checks: Iterable[CustomCheck] = ()) -> None:
        self._checks = {c.name: c for c in checks}

    def register(self, name: str, fn: Callable[[Any], Any], *, element_wise: bool = False) -> None:
        self._checks[name] = CustomCheck(name, fn, element_wise)

    def get(self, name: str) -> CustomCheck | None:
        return self._checks.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._checks))


def builtin_checks() -> CheckRegistry:
    """Checks every recipe can use by name."""

    def not_blank(s: Any) -> Any:
        return s.isna() | (s.astype("str").str.strip() != "")

    def email(s: Any) -> Any:
        return s.isna() | s.astype("str").str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+")

    return CheckRegistry([CustomCheck("not_blank", not_blank), CustomCheck("email", email)])


def default_checks() -> CheckRegistry:
    """Built-ins plus the ``sous.checks`` entry points (each a CustomCheck or a callable)."""
    from importlib.metadata import entry_points

    registry = builtin_checks()
    for ep in entry_points(group=CHECKS_ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, CustomCheck):
            registry.register(obj.name, obj.fn, element_wise=obj.element_wise)
        else:
            registry.register(ep.name, obj)
    return registry


@dataclass(frozen=True)
class ValidationResult:
    """Good rows, quarantined rows (original columns + ``_failed_checks``), the failures
    (capped examples) and the full failure table (one row per failed check per row)."""

    frame: pd.DataFrame
    quarantine: pd.DataFrame
    failures: tuple[CheckFailure, ...]
    failure_table: pd.DataFrame

    def artifacts(self) -> dict[str, object]:
        return {"quarantine": self.quarantine, "failures": self.failure_table}

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)


# ---------------------------------------------------------------- compiling the schema


def _range(value: Any) -> tuple[Any, Any]:
    if isinstance(value, Mapping):
        return value.get("min"), value.get("max")
    lo, hi = value
    return lo, hi


def _column_check(name: str, value: Any, registry: CheckRegistry) -> list[tuple[str, pa.Check]]:
    """(label, pandera Check) pairs for one YAML check; raises ValueError on a bad value."""
    import pandera.pandas as pa

    if name in ("ge", "gt", "le", "lt"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        return [(f"{name}({value})", getattr(pa.Check, name)(value))]
    if name == "in_range":
        lo, hi = _range(value)
        return [(f"in_range({lo}, {hi})", pa.Check.in_range(lo, hi))]
    if name in ("isin", "notin"):
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValueError(f"expected a list of values, got {value!r}")
        check = pa.Check.isin if name == "isin" else pa.Check.notin
        return [(f"{name}({list(value)})", check(list(value)))]
    if name in ("regex", "str_matches"):
        return [(f"regex({value})", pa.Check.str_matches(str(value)))]
    if name == "str_length":
        lo, hi = _range(value) if not isinstance(value, int) else (value, value)
        return [(f"str_length({lo}, {hi})", pa.Check.str_length(lo, hi))]
    return _custom(value, registry)


def _custom(value: Any, registry: CheckRegistry) -> list[tuple[str, pa.Check]]:
    import pandera.pandas as pa

    out = []
    for cname in [value] if isinstance(value, str) else list(value):
        check = registry.get(str(cname))
        if check is None:
            raise LookupError(
                f"unknown custom check {cname!r}; {choices_hint(str(cname), registry.names())}"
            )
        out.append(
            (f"custom({cname})", pa.Check(check.fn, element_wise=check.element_wise, name=cname))
        )
    return out


@dataclass(frozen=True)
class CompiledSchema:
    schema: pa.DataFrameSchema
    labels: Mapping[tuple[str | None, int], str]  # (column, check_number) -> YAML label


def _unknown(kind: str, name: str, key_path: str, choices: Iterable[str]) -> Problem:
    return Problem(
        key_path, f"unknown {kind} {name!r}", expected="one of " + ", ".join(choices), got=repr(name),
        hint=did_you_mean(name, choices),
    )  # fmt: skip


def _compile_columns(
    spec: SchemaSpec, registry: CheckRegistry, problems: list[Problem], labels: dict[Any, str]
) -> dict[str, pa.Column]:
    import pandera.pandas as pa

    columns = {}
    for col in spec.columns:
        checks: list[pa.Check] = []
        for cname, value in col.checks.items():
            where = f"schema.columns.{col.name}.checks.{cname}"
            if cname not in COLUMN_CHECKS:
                problems.append(_unknown("check", cname, where, COLUMN_CHECKS))
                continue
            try:
                pairs = _column_check(cname, value, registry)
            except (ValueError, TypeError, LookupError) as exc:
                problems.append(
                    Problem(where, f"bad value for check {cname!r}: {exc}", got=repr(value))
                )
                continue
            for label, check in pairs:
                labels[(col.name, len(checks))] = label
                checks.append(check)
        try:
            columns[col.name] = pa.Column(
                col.dtype, checks=checks, nullable=col.nullable, unique=col.unique,
                required=col.required, report_duplicates="exclude_first",
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            problems.append(
                Problem(
                    f"schema.columns.{col.name}.dtype", f"unknown dtype: {exc}", got=repr(col.dtype)
                )
            )
    return columns


def _compile_frame_checks(
    spec: SchemaSpec, problems: list[Problem], labels: dict[Any, str]
) -> tuple[list[Any], list[str] | None]:
    import pandera.pandas as pa

    checks: list[pa.Check] = []
    unique: list[str] | None = None
    for cname, value in spec.checks.items():
        where = f"schema.checks.{cname}"
        if cname not in FRAME_CHECKS:
            problems.append(_unknown("dataframe check", cname, where, FRAME_CHECKS))
        elif cname == "unique":
            unique = [value] if isinstance(value, str) else [str(v) for v in value]
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(Problem(where, f"{cname} must be a whole number >= 0", got=repr(value)))
        else:
            n = int(value)
            fn = (
                (lambda df, n=n: len(df) >= n)
                if cname == "min_rows"
                else (lambda df, n=n: len(df) <= n)
            )
            labels[(None, len(checks))] = f"{cname}({n})"
            checks.append(pa.Check(fn, name=cname))
    return checks, unique


def schema_problems(spec: SchemaSpec, registry: CheckRegistry | None = None) -> tuple[Problem, ...]:
    """Every problem in a SchemaSpec (for ``sous validate``), without touching data."""
    problems: list[Problem] = []
    registry = registry or default_checks()
    _compile_columns(spec, registry, problems, {})
    _compile_frame_checks(spec, problems, {})
    return tuple(problems)


def compile_schema(spec: SchemaSpec, registry: CheckRegistry | None = None) -> CompiledSchema:
    """SchemaSpec -> pandera schema; all problems at once as a RecipeError (a UserError)."""
    import pandera.pandas as pa

    problems: list[Problem] = []
    labels: dict[Any, str] = {}
    registry = registry or default_checks()
    columns = _compile_columns(spec, registry, problems, labels)
    checks, unique = _compile_frame_checks(spec, problems, labels)
    if problems:
        raise RecipeError(problems)
    schema = pa.DataFrameSchema(
        columns, checks=checks, unique=unique, strict=spec.strict, coerce=spec.coerce,
        report_duplicates="exclude_first",
    )  # fmt: skip
    return CompiledSchema(schema, labels)


# ---------------------------------------------------------------- running it


def _label(row: Mapping[str, Any], labels: Mapping[tuple[str | None, int], str]) -> str:
    check = str(row["check"])
    num = row["check_number"]
    col = row["column"] if isinstance(row["column"], str) else None
    if num is not None and num == num and (col, int(num)) in labels:
        return labels[(col, int(num))]
    if check.startswith(("dtype(", "coerce_dtype(")):
        return check.replace("'", "")
    return _PANDERA_NAMES.get(check, check)


def failure_table(
    frame: pd.DataFrame, compiled: CompiledSchema
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Validate lazily; (validated frame or None, table of row/column/check/value)."""
    import pandera.pandas as pa

    try:
        return compiled.schema.validate(frame, lazy=True), _table([])
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    records = []
    for rec in cases.to_dict("records"):
        col = rec["column"] if isinstance(rec["column"], str) else None
        idx = rec["index"]
        row = int(idx) if idx is not None and idx == idx else None
        records.append(
            {
                "row": row,
                "column": col,
                "check": _label(rec, compiled.labels),
                "value": str(rec["failure_case"]),
            }
        )
    return None, _table(records)


def _table(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    table = pd.DataFrame.from_records(records, columns=["row", "column", "check", "value"])
    return table.astype(
        {"row": "Int64", "column": "str", "check": "str", "value": "str"}
    ).drop_duplicates()


def summarise(table: pd.DataFrame, *, rows: int, max_examples: int) -> tuple[CheckFailure, ...]:
    """One CheckFailure per (column, check): distinct failing rows and a few examples."""
    import pandas as pd

    out = []
    for (col, check), group in table.groupby(["column", "check"], sort=False, dropna=False):
        col_name = None if col is None or col != col or col in ("None", "nan") else str(col)
        row_ids = group["row"].dropna()
        failed = int(row_ids.nunique()) if len(row_ids) else rows
        examples = [
            str(v) if pd.isna(r) else f"row {r}: {v}"
            for r, v in zip(group["row"].astype(object), group["value"], strict=True)
        ][:max_examples]
        out.append(CheckFailure(str(check), col_name, failed, tuple(examples)))
    return tuple(out)


def with_reasons(frame: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` named in ``table`` plus ``_failed_checks`` ("col:check; ...")."""
    reasons = table.dropna(subset=["row"]).assign(
        what=lambda t: t["column"].fillna("") + ":" + t["check"]
    ).groupby("row")["what"].agg(lambda s: "; ".join(dict.fromkeys(s)))  # fmt: skip
    rows = [int(r) for r in reasons.index]
    out = frame.loc[rows].copy()
    out["_failed_checks"] = [reasons[r] for r in rows]
    return out.astype({"_failed_checks": "str"})


def validate_frame(
    frame: pd.DataFrame,
    spec: SchemaSpec,
    *,
    target: str,
    registry: CheckRegistry | None = None,
    keep_index: bool = False,
) -> ValidationResult:
    """Apply ``spec`` to ``frame`` under its policy (see the module docstring).

    Rows are named by position unless ``keep_index`` (the out-of-core path numbers rows
    globally across partitions through the index)."""
    import pandas as pd

    if target not in frame.columns:
        raise UserError(f"target column {target!r} is not in the data", key_path="target",
                        hint=choices_hint(target, map(str, frame.columns)))  # fmt: skip
    compiled = compile_schema(spec, registry) if spec.checks_anything else None
    if not keep_index:
        frame = frame.reset_index(drop=True)
    null_target = frame[target].isna()
    null_table = _table(
        [
            {"row": i, "column": target, "check": TARGET_NULL, "value": "null"}
            for i in frame.index[null_target]
        ]
    )
    rest = frame[~null_target]
    validated, table = (rest, _table([])) if compiled is None else failure_table(rest, compiled)
    frame_level = table[table["row"].isna()]
    if len(table) and (
        spec.on_failure == "fail" or (spec.on_failure == "quarantine" and len(frame_level))
    ):
        failing = table if spec.on_failure == "fail" else frame_level
        raise DataValidationError(
            summarise(failing, rows=len(rest), max_examples=spec.max_examples)
        )
    if spec.on_failure == "quarantine" and len(table) and compiled is not None:
        validated, table = _drop_bad_rows(rest, table, compiled)
    good = validated if validated is not None else rest
    full = pd.concat([null_table, table], ignore_index=True) if len(null_table) else table
    quarantined = full if spec.on_failure == "quarantine" else null_table
    return ValidationResult(
        frame=good if keep_index else good.reset_index(drop=True),
        quarantine=with_reasons(frame, quarantined),
        failures=summarise(full, rows=len(frame), max_examples=spec.max_examples),
        failure_table=full.reset_index(drop=True),
    )


def _drop_bad_rows(
    rest: pd.DataFrame, table: pd.DataFrame, compiled: CompiledSchema
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop failing rows and re-validate the rest (coercion needs a clean pass). A second
    pass can only find more (e.g. uniqueness); it converges in a few rounds."""
    import pandas as pd

    for _ in range(3):
        bad = set(table["row"].dropna().astype(int))
        validated, more = failure_table(rest.drop(index=list(bad)), compiled)
        if validated is not None:
            return validated, table
        if more["row"].isna().any():
            raise DataValidationError(
                summarise(more[more["row"].isna()], rows=len(rest), max_examples=5)
            )
        table = pd.concat([table, more], ignore_index=True)
    raise DataValidationError(summarise(table, rows=len(rest), max_examples=5))
