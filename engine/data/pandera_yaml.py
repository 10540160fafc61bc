"""Import a pandera ``DataFrameSchema`` YAML (what ``DataFrameSchema.to_yaml()`` writes) as
Sous schema columns and checks, for ``schema: {pandera_yaml: PATH}``.

The file is untrusted input, so it is never handed to pandera's own reader: that one looks
every check name up with ``getattr(Check, name)`` and calls what it finds, which reaches
any check a library registered (``register_check_method``) or any other attribute of
``Check``. Here the YAML is read with ``yaml.safe_load`` (plain data, no Python objects),
and only checks with a Sous equivalent are translated: greater/less than (or equal),
in_range, equal_to/not_equal_to, isin/notin, str_matches/contains/startswith/endswith and
str_length, plus nullable, unique, required, dtype, strict, coerce and a dataframe's
``unique`` columns. Anything else is refused by name (column and check), never dropped, so
an imported schema checks at least what the original did. Both of pandera's layouts are
read: flat check keys on a column (pandera >= 0.24) and ``checks:`` lists or mappings.
No pandas or pandera import here: recipe validation stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.specs import ColumnSpec, frozen_map

# pandera's keys on a column that are not checks; title/description/name are ignored.
_COLUMN_KEYS = {
    "title", "description", "dtype", "nullable", "checks", "name", "unique", "coerce",
    "required", "regex", "default", "report_duplicates", "drop_invalid_rows",
}  # fmt: skip
_OPTION_KEYS = {"check_name", "ignore_na", "raise_warning", "n_failure_cases", "groupby",
                "groups", "error", "name"}  # fmt: skip
_TOP_IGNORED = {
    "schema_type", "version", "api", "dataframe_library", "name", "title", "description",
    "metadata", "report_duplicates", "unique_column_names",
}  # fmt: skip
_BOUNDS = {
    "greater_than_or_equal_to": "ge", "ge": "ge", "greater_than": "gt", "gt": "gt",
    "less_than_or_equal_to": "le", "le": "le", "less_than": "lt", "lt": "lt",
}  # fmt: skip
TRANSLATED = (
    *_BOUNDS, "in_range", "equal_to", "eq", "not_equal_to", "ne", "isin", "notin",
    "str_matches", "str_contains", "str_startswith", "str_endswith", "str_length",
)  # fmt: skip


@dataclass(frozen=True)
class ImportedSchema:
    """What a pandera YAML says, in Sous's terms (see :class:`engine.specs.SchemaSpec`)."""

    columns: tuple[ColumnSpec, ...]
    checks: Mapping[str, Any]  # dataframe-level (only ``unique`` comes from pandera)
    strict: bool
    coerce: bool


@dataclass(frozen=True)
class Refusal:
    """One thing in the file Sous cannot (or will not) translate: where, what, how to fix."""

    where: str  # "column 'age', check 'unique_values_eq'" or "key 'index'"
    message: str
    hint: str


class PanderaYamlError(Exception):
    """The file cannot be imported: unreadable, not YAML, or with untranslatable parts."""

    def __init__(self, refusals: list[Refusal]):
        self.refusals = refusals
        super().__init__("; ".join(f"{r.where}: {r.message}" for r in refusals))


def read(path: Path) -> ImportedSchema:
    """The schema in ``path``; :class:`PanderaYamlError` listing every refusal at once."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PanderaYamlError(
            [Refusal("the file", f"cannot be read: {exc.strerror}", "check the path")]
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise PanderaYamlError(
            [Refusal("the file", f"is not valid YAML{line}: {problem}", _REWRITE)]
        ) from None
    return translate(doc)


_REWRITE = "write it again with pandera's DataFrameSchema.to_yaml()"


def translate(doc: Any) -> ImportedSchema:
    """A parsed pandera YAML document -> :class:`ImportedSchema` (or every refusal)."""
    refusals: list[Refusal] = []
    if not isinstance(doc, Mapping):
        raise PanderaYamlError(
            [Refusal("the file", "is not a mapping (a pandera DataFrameSchema)", _REWRITE)]
        )
    _check_top(doc, refusals)
    columns = [_column(str(name), spec, doc, refusals) for name, spec in _columns(doc, refusals)]
    checks: dict[str, Any] = {}
    unique = doc.get("unique")
    if unique:
        checks["unique"] = [unique] if isinstance(unique, str) else [str(c) for c in unique]
    if refusals:
        raise PanderaYamlError(refusals)
    return ImportedSchema(
        columns=tuple(columns),
        checks=frozen_map(checks),
        strict=doc.get("strict") is True,
        coerce=doc.get("coerce") is True,
    )


def _check_top(doc: Mapping[str, Any], refusals: list[Refusal]) -> None:
    def refuse(key: str, message: str, hint: str) -> None:
        refusals.append(Refusal(f"key {key!r}", message, hint))

    if doc.get("schema_type", "dataframe") != "dataframe":
        refuse("schema_type", f"is {doc.get('schema_type')!r}", "import a DataFrameSchema")
    api = doc.get("api", doc.get("dataframe_library", "pandas"))
    if api not in (None, "pandas"):
        refuse("api", f"is {api!r}; Sous validates pandas frames", "use a pandas schema")
    if doc.get("checks"):
        for name in _check_names(doc["checks"]):
            refuse(
                "checks",
                f"dataframe-level check {name!r} has no Sous equivalent",
                "remove it; Sous's dataframe checks are unique, min_rows and max_rows, "
                "set under schema.checks in the recipe",
            )
    if doc.get("index") is not None:
        refuse("index", "index schemas are not imported (Sous reads tables with a plain "
               "row index)", "move the index's checks to a column, or remove it")  # fmt: skip
    if doc.get("strict") not in (None, True, False):
        refuse("strict", f"is {doc.get('strict')!r}", "use true or false (Sous never drops "
               "columns while validating)")  # fmt: skip
    for key, fix in (
        ("ordered", "remove it: Sous checks columns by name, not order"),
        ("add_missing_columns", "remove it, or add the column in data.sources"),
        ("drop_invalid_rows", "remove it and set schema.on_failure: quarantine in the recipe"),
        ("dtype", "give each column its dtype"),
    ):
        if doc.get(key):
            refuse(key, f"{key}: {doc.get(key)!r} has no Sous equivalent", fix)
    known = {"columns", "checks", "index", "strict", "coerce", "unique", "ordered",
             "add_missing_columns", "drop_invalid_rows", "dtype", *_TOP_IGNORED}  # fmt: skip
    for key in doc:
        if key not in known:
            refuse(str(key), "is not a key of pandera's DataFrameSchema YAML", _REWRITE)


def _columns(doc: Mapping[str, Any], refusals: list[Refusal]) -> list[tuple[str, Any]]:
    cols = doc.get("columns") or {}
    if isinstance(cols, Mapping):
        return [(str(k), v or {}) for k, v in cols.items()]
    if isinstance(cols, list) and all(isinstance(c, Mapping) and "name" in c for c in cols):
        return [(str(c["name"]), c) for c in cols]
    refusals.append(Refusal("key 'columns'", "is not a mapping of columns", _REWRITE))
    return []


def _check_names(checks: Any) -> list[str]:
    if isinstance(checks, Mapping):
        return [str(k) for k in checks]
    if isinstance(checks, list):
        return [str(((c or {}).get("options") or {}).get("check_name", "?")) for c in checks]
    return [repr(checks)]


def _column(name: str, spec: Any, doc: Mapping[str, Any], refusals: list[Refusal]) -> ColumnSpec:
    def refuse(what: str, message: str, hint: str) -> None:
        refusals.append(Refusal(f"column {name!r}, {what}", message, hint))

    if not isinstance(spec, Mapping):
        refuse("definition", "is not a mapping", _REWRITE)
        return ColumnSpec(name)
    if spec.get("regex"):
        refuse("regex: true", "a pattern of column names is not imported", "name each column")
    if spec.get("default") is not None:
        refuse("default", "Sous does not fill missing values while validating",
               "remove it; impute in preprocess instead")  # fmt: skip
    if spec.get("drop_invalid_rows"):
        refuse("drop_invalid_rows", "is not imported",
               "remove it and set schema.on_failure: quarantine in the recipe")  # fmt: skip
    if spec.get("coerce") and not doc.get("coerce"):
        refuse("coerce", "Sous coerces every column or none",
               "set coerce: true at the top of the schema, or remove it here")  # fmt: skip
    checks: dict[str, Any] = {}
    for cname, stats in _column_checks(spec):
        _translate_check(cname, stats, checks, refuse)
    dtype = spec.get("dtype")
    return ColumnSpec(
        name=name,
        dtype=str(dtype) if dtype is not None else None,
        nullable=spec.get("nullable") is True,  # pandera's default is False
        unique=spec.get("unique") is True,
        required=spec.get("required") is not False,
        checks=frozen_map(checks),
    )


def _column_checks(spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(check name, its arguments) in either layout: flat keys, or ``checks:``."""
    listed = spec.get("checks")
    if isinstance(listed, Mapping):
        return [(str(k), v) for k, v in listed.items()]
    if isinstance(listed, list):
        out = []
        for entry in listed:
            entry = dict(entry or {})
            options = dict(entry.pop("options", None) or {})
            out.append((str(options.pop("check_name", "?")), {**entry, **options}))
        return out
    return [(str(k), v) for k, v in spec.items() if k not in _COLUMN_KEYS]


def _translate_check(cname: str, stats: Any, out: dict[str, Any], refuse: Any) -> None:
    where = f"check {cname!r}"
    args, options = _split(stats)
    if options.get("ignore_na") is False:
        refuse(where, "ignore_na: false is not imported (Sous checks skip missing values)",
               "remove it; use nullable: false to refuse missing values")  # fmt: skip
    if options.get("raise_warning"):
        refuse(where, "raise_warning: true is not imported (one policy for the whole schema)",
               "remove it and set schema.on_failure: warn in the recipe")  # fmt: skip
    if options.get("groupby") or options.get("groups"):
        refuse(where, "grouped checks are not imported", "remove groupby/groups")
    try:
        pairs = _sous_checks(cname, args)
    except (KeyError, TypeError, ValueError) as exc:
        refuse(where, f"has arguments Sous cannot read ({exc})", _REWRITE)
        return
    if pairs is None:
        refuse(
            where,
            "has no Sous equivalent (translated: " + ", ".join(TRANSLATED) + ")",
            "remove it from the YAML and, if it matters, register a custom check (entry "
            "point group sous.checks) and name it under schema.columns.<column>.checks.custom",
        )
        return
    for key, value in pairs:
        if key in out and out[key] != value:
            refuse(where, f"translates to {key!r}, which another check of this column sets",
                   "keep one of them")  # fmt: skip
        out[key] = value


def _split(stats: Any) -> tuple[Any, dict[str, Any]]:
    """A check's arguments (a scalar, or a mapping) and its options."""
    if not isinstance(stats, Mapping):
        return stats, {}
    options = {k: v for k, v in stats.items() if k in _OPTION_KEYS}
    options.update(stats.get("options") or {})
    args = {k: v for k, v in stats.items() if k not in _OPTION_KEYS and k != "options"}
    return (args["value"] if list(args) == ["value"] else args), options


def _one(args: Any) -> Any:
    """The single argument of a one-argument check (``{min_value: 0}`` or ``0``)."""
    if isinstance(args, Mapping):
        if len(args) == 1:
            return next(iter(args.values()))
        raise ValueError(f"expected one value, got {dict(args)}")
    return args


def _sous_checks(cname: str, args: Any) -> list[tuple[str, Any]] | None:
    """Sous (check, value) pairs for one pandera check; None if it has no equivalent."""
    if cname in _BOUNDS:
        return [(_BOUNDS[cname], _number(_one(args)))]
    if cname == "in_range":
        lo, hi = _number(args["min_value"]), _number(args["max_value"])
        if args.get("include_min", True) and args.get("include_max", True):
            return [("in_range", {"min": lo, "max": hi})]
        return [
            ("ge" if args.get("include_min", True) else "gt", lo),
            ("le" if args.get("include_max", True) else "lt", hi),
        ]
    if cname in ("equal_to", "eq"):
        return [("isin", [_one(args)])]
    if cname in ("not_equal_to", "ne"):
        return [("notin", [_one(args)])]
    if cname in ("isin", "notin"):
        values = _one(args)
        if isinstance(values, str) or not isinstance(values, list):
            raise ValueError(f"expected a list, got {values!r}")
        return [(cname, list(values))]
    if cname == "str_matches":
        return [("str_matches", str(_one(args)))]
    if cname == "str_contains":
        return [("str_matches", f"(?s).*?(?:{_one(args)})")]
    if cname == "str_startswith":
        return [("str_matches", re.escape(str(_one(args))))]
    if cname == "str_endswith":
        return [("str_matches", f"(?s).*{re.escape(str(_one(args)))}$")]
    if cname == "str_length":
        if not isinstance(args, Mapping):
            return [("str_length", {"min": int(args), "max": int(args)})]
        exact = args.get("exact_value")
        if exact is not None:
            return [("str_length", {"min": int(exact), "max": int(exact)})]
        return [("str_length", {"min": args.get("min_value"), "max": args.get("max_value")})]
    return None


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return value
