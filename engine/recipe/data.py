"""``data:`` and ``schema:`` -> DataSpec and SchemaSpec.

Relative file paths and ``sqlite:///relative.db`` URLs are made absolute against the recipe
file's directory here, so a recipe runs the same from any working directory and every later
layer (fingerprints, readers, workers on other machines) sees one unambiguous path.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine import specs
from engine.recipe import keys
from engine.recipe.problems import Issues, Section, did_you_mean, join, one_of

_SQLITE_RELATIVE = re.compile(r"^(sqlite(?:\+\w+)?:///)(?!/)(.+)$")


def convert_data(top: Section, base_dir: Path, issues: Issues) -> specs.DataSpec:
    data = top.mapping("data", keys.DATA)
    sources = _sources(data, base_dir, issues)
    raw_sources = data.data.get("sources")
    names = [str(k) for k in raw_sources] if isinstance(raw_sources, dict) else []
    return specs.DataSpec(
        sources=sources,
        integrate=_integrate(data, names, issues),
        rename=specs.frozen_map(data.str_map("rename")),
        cast=specs.frozen_map(data.str_map("cast")),
        pii=specs.frozen_map(data.str_map("pii", keys.PII_ACTIONS)),
        pii_salt_env=data.text("pii_salt_env", "SOUS_PII_SALT"),
        dedupe=data.str_list("dedupe"),
        features=data.str_list("features"),
        drop=data.str_list("drop"),
        out_of_core=_out_of_core(data, issues),
    )


OUT_OF_CORE_KEYS = {"blocksize", "sample_rows"}


def _out_of_core(data: Section, issues: Issues) -> specs.OutOfCoreSpec | None:
    """`out_of_core: true`, or a mapping of its settings; false or absent: in memory."""
    raw = data.raw("out_of_core")
    if raw is None or raw is False:
        return None
    if raw is True:
        return specs.OutOfCoreSpec()
    section = data.mapping("out_of_core", OUT_OF_CORE_KEYS)
    blocksize = section.raw("blocksize")
    if blocksize is not None and not isinstance(blocksize, str | int):
        issues.wrong(section.key("blocksize"), blocksize, 'a size like "64MB" or a byte count')
        blocksize = None
    return specs.OutOfCoreSpec(
        blocksize=str(blocksize) if blocksize is not None else "64MB",
        sample_rows=section.integer("sample_rows", 1_000_000, minimum=1),
    )


def _sources(data: Section, base_dir: Path, issues: Issues) -> tuple[specs.SourceSpec, ...]:
    section = data.mapping("sources")
    if not section.data:
        issues.missing(section.path, "at least one source: {name: {kind: ..., ...}}")
        return ()
    out = []
    for name in section.data:
        source = section.mapping(name)
        kind = source.text("kind", required=True)
        if kind is None:
            continue
        options = {k: v for k, v in source.data.items() if k != "kind"}
        _check_kind(source, kind, issues)
        options = _absolute(source, options, base_dir, issues)
        out.append(specs.SourceSpec(name=name, kind=kind, options=specs.frozen_map(options)))
    return tuple(out)


def _check_kind(source: Section, kind: str, issues: Issues) -> None:
    """Required options of the built-in kinds; other kinds are registered plugins."""
    if kind in keys.FILE_KINDS:
        source.text("path", required=True)
    elif kind == "sql":
        source.text("url", required=not source.has("path"))  # or path: a SQLite file
        if not source.has("query") and not source.has("table"):
            issues.missing(source.key("query"), "a SQL query (or table: NAME)")
        source.text("query")
        source.text("table")
    elif kind == "sklearn":
        source.text("name", required=True, choices=keys.SKLEARN_DATASETS)
    elif did_you_mean(kind, keys.SOURCE_KINDS):
        issues.add(
            source.key("kind"),
            f"unknown source kind {kind!r}",
            expected=one_of(keys.SOURCE_KINDS) + " or a registered kind",
            got=repr(kind),
            hint=did_you_mean(kind, keys.SOURCE_KINDS),
        )


def _absolute(
    source: Section, options: dict[str, Any], base_dir: Path, issues: Issues
) -> dict[str, Any]:
    path = options.get("path")
    if isinstance(path, str) and "://" not in path:
        resolved = (base_dir / Path(path).expanduser()).resolve()
        options["path"] = str(resolved)
        if not glob.has_magic(path) and not resolved.exists():
            parent = resolved.parent
            near = [p.name for p in parent.iterdir()] if parent.is_dir() else []
            issues.add(
                source.key("path"),
                "no such file or directory",
                expected="an existing file, directory or glob (relative to the recipe file)",
                got=str(resolved),
                hint=did_you_mean(resolved.name, near) or "check the path; globs like *.csv work",
            )
    url = options.get("url")
    if isinstance(url, str) and (m := _SQLITE_RELATIVE.match(url)):
        options["url"] = m.group(1) + str((base_dir / m.group(2)).resolve())
    return options


def _integrate(data: Section, names: list[str], issues: Issues) -> tuple[specs.IntegrateSpec, ...]:
    raw = data.data.get("integrate")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        issues.wrong(data.key("integrate"), raw, "a list of {join|union|asof|dedupe: ...}")
        return ()
    out = []
    for i, item in enumerate(raw):
        item = _yaml_on_key(item)
        spec = _integrate_op(Section(issues, item, join(data.key("integrate"), i)), names, issues)
        if spec is not None:
            out.append(spec)
    return tuple(out)


def _yaml_on_key(item: Any) -> Any:
    """YAML 1.1 reads a bare `on:` key as the boolean True (which reaches us as "True");
    in an integrate step it can only mean `on`."""
    if isinstance(item, Mapping) and any(k is True or k == "True" for k in item):
        return {("on" if (k is True or k == "True") else k): v for k, v in item.items()}
    return item


def _integrate_op(step: Section, names: list[str], issues: Issues) -> specs.IntegrateSpec | None:
    ops = [k for k in step.data if k in keys.INTEGRATE_OPS]
    if len(ops) != 1:
        others = [k for k in step.data if k not in keys.INTEGRATE_OPS]
        hint = next((h for k in others if (h := did_you_mean(k, keys.INTEGRATE_OPS))), None)
        issues.add(
            step.path,
            "each integrate step needs exactly one operation",
            expected=one_of(keys.INTEGRATE_OPS),
            got=", ".join(step.data) or "nothing",
            hint=hint or "e.g. {join: usage, on: customer_id, how: left}",
        )
        return None
    op = ops[0]
    if op == "dedupe":
        _allowed(step, {"dedupe", "keep"}, issues)
        return specs.IntegrateSpec(
            op="dedupe",
            options=specs.frozen_map(
                {"on": list(step.str_list("dedupe")), "keep": step.text("keep", "last")}
            ),
        )
    choices = names if op == "windows" else (names[1:] or names)  # windows may read the base
    source = step.text(op, required=True, choices=choices)
    options = {k: v for k, v in step.data.items() if k != op}
    _OP_CHECKS[op](step, issues)
    return specs.IntegrateSpec(op=op, source=source, options=specs.frozen_map(options))


def _allowed(step: Section, allowed: set[str], issues: Issues) -> None:
    for key in step.data:
        if key not in allowed:
            issues.unknown_key(step.path, key, allowed)


def _check_join(step: Section, issues: Issues) -> None:
    _allowed(step, {"join", "on", "left_on", "right_on", "how", "suffixes"}, issues)
    step.text("how", choices=keys.JOIN_HOW)
    has_on = step.has("on")
    has_pair = step.has("left_on") and step.has("right_on")
    if has_on == has_pair or (step.has("left_on") != step.has("right_on")):
        issues.add(
            step.path,
            "a join needs `on` (same key name) or both `left_on` and `right_on`",
            expected="on: KEY, or left_on: A + right_on: B",
            got=", ".join(k for k in ("on", "left_on", "right_on") if step.has(k)) or "neither",
        )
    for key in ("on", "left_on", "right_on"):
        step.str_list(key)


def _check_union(step: Section, issues: Issues) -> None:
    _allowed(step, {"union"}, issues)


def _check_asof(step: Section, issues: Issues) -> None:
    _allowed(
        step,
        {
            "asof",
            "on",
            "left_on",
            "right_on",
            "by",
            "left_by",
            "right_by",
            "direction",
            "tolerance",
        },
        issues,
    )
    if not (step.has("left_on") and step.has("right_on")):
        step.text("on", required=True)
    step.str_list("by")
    step.text("direction", choices=keys.ASOF_DIRECTIONS)
    tolerance = step.raw("tolerance")
    if tolerance is not None and not _is_tolerance(tolerance):
        issues.wrong(
            step.key("tolerance"),
            tolerance,
            'a duration like "1d", "12h", "30min", "2w", or a number (numeric keys)',
            hint="units: w, d, h, min, s, ms (e.g. tolerance: 2d)",
        )


def _is_tolerance(value: Any) -> bool:
    """A number, or a string the as-of join reads as a duration (checked here, so that a
    ``2x`` fails at validation and not after the sources were read)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value >= 0
    if not isinstance(value, str):
        return False
    from engine.data.integrate import parse_duration

    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def _check_windows(step: Section, issues: Issues) -> None:
    _allowed(step, {"windows"}, issues)  # the definitions are features.windows


_OP_CHECKS = {
    "join": _check_join,
    "union": _check_union,
    "asof": _check_asof,
    "windows": _check_windows,
}


def convert_schema(top: Section, issues: Issues) -> specs.SchemaSpec:
    schema = top.mapping("schema", keys.SCHEMA)
    on_failure = schema.text("on_failure", "fail", choices=keys.ON_FAILURE)
    columns = schema.mapping("columns")
    own = tuple(_column(columns.mapping(c, keys.COLUMN), c) for c in columns.data)
    imported = _pandera_yaml(schema, issues)
    if imported is None:
        spec = specs.SchemaSpec(
            on_failure=on_failure,
            columns=own,
            checks=specs.frozen_map(schema.mapping("checks").data),
            strict=schema.flag("strict", False),
            coerce=schema.flag("coerce", False),
            max_examples=schema.integer("max_examples", 5, minimum=1),
        )
    else:
        path, base = imported
        named = {c.name for c in own}
        spec = specs.SchemaSpec(  # the recipe's keys win over the imported file's
            on_failure=on_failure,
            columns=tuple(c for c in base.columns if c.name not in named) + own,
            checks=specs.frozen_map({**base.checks, **schema.mapping("checks").data}),
            strict=schema.flag("strict", base.strict),
            coerce=schema.flag("coerce", base.coerce),
            max_examples=schema.integer("max_examples", 5, minimum=1),
            pandera_yaml=str(path),
        )
    if spec.columns or spec.checks:
        _schema_problems(spec, issues)
    return spec


def _pandera_yaml(schema: Section, issues: Issues) -> tuple[Path, Any] | None:
    """``schema.pandera_yaml``: the file (relative to the recipe's folder) and what it
    imports (:mod:`engine.data.pandera_yaml`), or None if unset or refused (then recorded)."""
    raw = schema.text("pandera_yaml")
    if raw is None:
        return None
    from engine.data import pandera_yaml

    base_dir = Path(issues.file).resolve().parent if issues.file else Path.cwd()
    path = (base_dir / raw).resolve()
    key = schema.key("pandera_yaml")
    if not path.is_file():
        issues.add(
            key, "file not found", expected="a pandera DataFrameSchema YAML file",
            got=str(path), hint=f"paths are relative to the recipe's folder ({base_dir}); "
            "write one with DataFrameSchema.to_yaml() or `sous schema infer RECIPE "
            "--format pandera --out PATH`",
        )  # fmt: skip
        return None
    try:
        return path, pandera_yaml.read(path)
    except pandera_yaml.PanderaYamlError as err:
        for r in err.refusals:
            issues.add(key, f"{path.name}: {r.where}: {r.message}", got=str(path), hint=r.hint)
    return None


def _schema_problems(spec: specs.SchemaSpec, issues: Issues) -> None:
    """Check names and values belong to engine.validation; report them with ours."""
    try:
        from engine.validation import schema_problems
    except ImportError:
        return
    for p in schema_problems(spec):
        issues.add(p.key_path, p.message, expected=p.expected, got=p.got, hint=p.hint)


def _column(col: Section, name: str) -> specs.ColumnSpec:
    return specs.ColumnSpec(
        name=name,
        dtype=col.text("dtype"),
        nullable=col.flag("nullable", True),
        unique=col.flag("unique", False),
        required=col.flag("required", True),
        checks=specs.frozen_map(col.mapping("checks").data),
    )
