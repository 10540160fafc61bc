"""A JSON Schema of the recipe format, generated from the specs and the recipe vocabulary.

Editors (VS Code's YAML extension, JetBrains, Neovim) complete and check recipes against
``docs/recipe.schema.json``; ``scripts/gen_docs.py`` writes it and the recipe reference
page from :func:`recipe_schema`, and a test keeps both equal to what this module generates.
Keys, types and defaults come from the frozen specs (:mod:`engine.specs`: a new field shows
up here), allowed values from :mod:`engine.recipe.keys`, and each key's description from
the comment beside its field in ``specs.py``. The schema is for editors: ``sous validate``
stays the judge (it also checks what a schema cannot, such as a column's existence).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from engine import specs
from engine.recipe import keys

JSON = dict[str, Any]
SCHEMA_ID = "https://sous.invalid/recipe.schema.json"
_COMMENT = re.compile(r"^\s+(\w+):[^#]*#\s*(.+?)\s*$")
# Keys whose allowed values are an enumeration of the recipe vocabulary.
ENUMS: Mapping[str, tuple[str, ...]] = {
    "split.kind": keys.SPLIT_KINDS,
    "cv.kind": keys.CV_KINDS,
    "imbalance.strategy": keys.IMBALANCE_STRATEGIES,
    "sweep.strategy": keys.SWEEP_STRATEGIES,
    "deploy.target": keys.DEPLOY_TARGETS,
    "cluster.kind": keys.CLUSTER_KINDS,
}
OMIT = {"source_file", "resolved", "greater_is_better", "tiebreak_greater_is_better"}


def comments(cls: type) -> dict[str, str]:
    """Field name -> the comment written beside it in the spec's source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return {m[1]: m[2] for line in source.splitlines() if (m := _COMMENT.match(line))}


def _type(hint: Any) -> JSON:
    """JSON Schema of a spec field's annotation."""
    origin = typing.get_origin(hint)
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin in (typing.Union, types.UnionType):
        options = [_type(a) for a in typing.get_args(hint)]
        return options[0] if len(options) == 1 else {"anyOf": options}
    if hint is type(None):
        return {"type": "null"}
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return {"anyOf": [{"type": "array", "items": _type(item)}, _type(item)]}
    if dataclasses.is_dataclass(hint):
        return section(hint)
    return {"type": "object"}  # Mapping[str, Any]: open


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return dataclasses.MISSING
    if dataclasses.is_dataclass(value):
        return dataclasses.MISSING
    return specs.thaw(value)


def section(cls: Any, *, path: str = "", without: frozenset[str] = frozenset()) -> JSON:
    """A closed object schema of one spec: its fields, typed, with defaults and comments."""
    hints = typing.get_type_hints(cls, vars(specs))
    notes = comments(cls)
    props: JSON = {}
    for f in dataclasses.fields(cls):
        if f.name in OMIT or f.name in without:
            continue
        where = f"{path}.{f.name}" if path else f.name
        prop: JSON = {"enum": list(ENUMS[where])} if where in ENUMS else _type(hints[f.name])
        default = _default(f)
        if default is not dataclasses.MISSING:
            prop["default"] = default
        if f.name in notes:
            prop["description"] = notes[f.name]
        props[f.name] = prop
    out: JSON = {"type": "object", "properties": props, "additionalProperties": False}
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
        out["description"] = " ".join(cls.__doc__.split())
    # no "required" from the spec: a field without a default there (select.metric,
    # deploy.bento.name) still has one in the recipe, from the task or the recipe's name
    return out


def _open(known: Any, description: str, **extra: Any) -> JSON:
    """An object whose listed keys are known and whose other keys are passed on."""
    props = {k: {} for k in sorted(known)} if not isinstance(known, dict) else known
    return {"type": "object", "description": description, "properties": props, **extra}


def _closed(names: Any, description: str = "") -> JSON:
    out: JSON = {"type": "object", "properties": {k: {} for k in sorted(names)}}
    out["additionalProperties"] = False
    if description:
        out["description"] = description
    return out


def _data() -> JSON:
    data = section(specs.DataSpec, path="data", without=frozenset({"sources", "integrate"}))
    source = _open(
        {"kind": {"type": "string", "examples": list(keys.SOURCE_KINDS)}},
        "kind-specific keys: path (files), url + query (sql), name (sklearn)",
        required=["kind"],
    )
    ooc = section(specs.OutOfCoreSpec)
    data["properties"]["sources"] = {
        "type": "object",
        "description": "name -> source; the first is the base table",
        "additionalProperties": source,
        "minProperties": 1,
    }
    data["properties"]["integrate"] = {
        "type": "array",
        "description": "applied in order: " + ", ".join(keys.INTEGRATE_OPS),
        "items": {"type": "object", "minProperties": 1},
    }
    data["properties"]["out_of_core"] = {"anyOf": [{"type": "boolean"}, ooc, {"type": "null"}]}
    data["required"] = ["sources"]
    return data


def _schema_section() -> JSON:
    out = section(specs.SchemaSpec, path="schema", without=frozenset({"columns"}))
    column = section(specs.ColumnSpec, path="schema.column", without=frozenset({"name"}))
    out["properties"]["columns"] = {"type": "object", "additionalProperties": column}
    return out


def _preprocess() -> JSON:
    out = section(specs.PreprocessSpec, path="preprocess")
    props = out["properties"]
    props["numeric"] = _closed(keys.NUMERIC_PREPROCESS)
    props["numeric"]["properties"].update(
        impute={"enum": list(keys.IMPUTE_NUMERIC), "default": "median"},
        scale={"enum": list(keys.SCALE), "default": "standard"},
    )
    props["categorical"] = _closed(keys.CATEGORICAL_PREPROCESS)
    props["categorical"]["properties"].update(
        impute={"enum": list(keys.IMPUTE_CATEGORICAL), "default": "most_frequent"},
        encode={"enum": list(keys.ENCODE), "default": "onehot"},
        min_frequency={"type": "number", "exclusiveMinimum": 0},
        max_categories={"type": "integer", "minimum": 2},
    )
    props["datetime"] = {
        "type": "object",
        "properties": {
            "parts": {"type": "array", "items": {"enum": list(specs.DATETIME_PARTS)}},
            "epoch": {"type": "boolean", "default": True},
        },
        "additionalProperties": False,
    }
    return out


def _models() -> JSON:
    imbalance = section(specs.ImbalanceSpec, path="imbalance")
    model = _open(
        {
            "_target_": {"type": "string", "description": "an allowlisted estimator class"},
            "kind": {"type": "string", "default": "sklearn", "examples": list(keys.MODEL_KINDS)},
            "search": {"type": "object", "description": "the sweep space, per parameter"},
            "resources": {"type": "object", "description": "e.g. {GPU: 1}"},
            "imbalance": imbalance,
        },
        "constructor parameters besides the reserved keys",
    )
    return {"type": "object", "additionalProperties": model, "minProperties": 1}


def _deploy() -> JSON:
    out = section(specs.DeploySpec, path="deploy")
    out["properties"]["promote"] = {"enum": [*keys.ALIASES, None], "default": "staging"}
    out["properties"]["bento"]["properties"]["batching"] = _closed(
        ("max_batch_size", "max_latency_ms")
    )
    return out


def recipe_schema() -> JSON:
    """The whole recipe format (Hydra's ``defaults`` list included)."""
    from engine.recipe import monitor as monitor_keys
    from engine.recipe import stream as stream_keys

    select = section(specs.SelectSpec, path="select")
    select["properties"]["budget"] = _closed(keys.SELECT_BUDGET)
    tradeoff = section(specs.TradeoffSpec)
    tradeoff["properties"]["cost"] = _closed(keys.TRADEOFF_COST, "a weight (>= 0) per cost")
    tradeoff["required"] = ["tolerance"]
    tradeoff["description"] = select["properties"]["tradeoff"].get("description", "")
    select["properties"]["tradeoff"] = tradeoff  # absent: the best score is served
    props: JSON = {
        "defaults": {"type": "array", "description": "Hydra's defaults list"},
        "name": {"type": "string", "description": "the recipe's and the model's name"},
        "task": {"enum": list(specs.TASKS)},
        "target": {"type": "string", "description": "the column to predict"},
        "seed": {"type": "integer", "default": 0},
        "data": _data(),
        "schema": _schema_section(),
        "split": section(specs.SplitSpec, path="split"),
        "cv": section(specs.CVSpec, path="cv"),
        "preprocess": _preprocess(),
        "imbalance": section(specs.ImbalanceSpec, path="imbalance"),
        "models": _models(),
        "model": {
            "anyOf": [{"type": "string"}, _closed(keys.MODEL_SELECTOR)],
            "description": "which of models to run (a name, or one per task)",
        },
        "sweep": section(specs.SweepSpec, path="sweep"),
        "select": select,
        "deploy": _deploy(),
        "cluster": section(specs.ClusterSpec, path="cluster"),
        "cost": section(specs.CostSpec, path="cost"),
        "security": _closed(keys.SECURITY, "refused in recipes: the operator's to set"),
        "features": _closed(stream_keys.FEATURES),
        "stream": _closed(stream_keys.STREAM),
        "monitor": _closed(monitor_keys.KEYS),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Sous recipe",
        "description": "A Sous recipe (see docs/recipes.md); generated from engine/specs.py.",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }
