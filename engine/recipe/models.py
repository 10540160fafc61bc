"""``models:`` (and the ``model=NAME`` selector) -> ModelSpec tuples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from engine import specs
from engine.recipe import estimator_memo, keys, targets
from engine.recipe.problems import Issues, Section, did_you_mean, join


def reserved_keys() -> frozenset[str]:
    """Model-entry keys that are not estimator params (``imbalance`` once ModelSpec has it)."""
    has_imbalance = any(f.name == "imbalance" for f in fields(specs.ModelSpec))
    return keys.MODEL_RESERVED if has_imbalance else keys.MODEL_RESERVED - {"imbalance"}


def convert_models(
    top: Section,
    task: str | None,
    allow: Sequence[str],
    issues: Issues,
    sweep: specs.SweepSpec | None = None,
) -> tuple[specs.ModelSpec, ...]:
    models = top.mapping("models")
    entries = dict(models.data)
    if "models" not in top.data and "model" not in top.data:
        issues.missing("models", "a mapping of model name -> {_target_: ..., params}")
    if top.has("model"):
        entries = _select(top.mapping("model", keys.MODEL_SELECTOR), entries, task, issues)
    elif not entries and "models" in top.data:
        issues.add("models", "no models declared", expected="at least one model", got="{}")
    return tuple(
        spec
        for name, raw in entries.items()
        if (spec := _model(str(name), raw, task, allow, issues, sweep)) is not None
    )


def _select(
    selector: Section, entries: dict[str, Any], task: str | None, issues: Issues
) -> dict[str, Any]:
    """``model=NAME``: the recipe's model NAME, else the built-in one for the task."""
    name = selector.text("name", required=True)
    if name is None:
        return entries
    if name in entries:
        return {name: entries[name]}
    if task is not None and selector.has(task):
        return {name: selector.data[task]}
    builtin = selector.data.keys() - {"name"}
    why = f"the built-in model={name} has no {task} variant" if builtin else "no built-in one"
    options = sorted(set(entries) | _builtin_models())
    issues.add(
        "model",
        f"model={name} selects nothing: the recipe has no model {name!r} and {why}",
        expected="one of " + ", ".join(options),
        got=repr(name),
        hint=did_you_mean(name, [o for o in options if o != name])
        or f"models in this recipe: {', '.join(entries)}",
    )
    return entries


def _builtin_models() -> set[str]:
    from engine.recipe.searchpath import builtin_conf_dir

    return {p.stem for p in (builtin_conf_dir() / "model").glob("*.yaml")}


def _model(
    name: str,
    raw: Any,
    task: str | None,
    allow: Sequence[str],
    issues: Issues,
    sweep: specs.SweepSpec | None = None,
) -> specs.ModelSpec | None:
    path = join("models", name)
    entry = Section(issues, raw, path)
    if not entry.data:
        if raw is not None and isinstance(raw, dict):
            issues.missing(join(path, "_target_"), "an estimator import path")
        return None
    reserved = reserved_keys()
    params = {k: v for k, v in entry.data.items() if k not in reserved}
    kind = entry.text(
        "kind", "sklearn" if entry.has("_target_") else None, choices=keys.MODEL_KINDS
    )
    target = entry.text("_target_", required=kind in (None, "sklearn", "incremental"))
    if kind is None and target is None:
        return None
    search = entry.mapping("search").data
    resources = _resources(entry, params, kind, issues)
    if (
        kind in ("sklearn", "incremental")
        and target is not None
        and targets.is_allowed(target, allow)
    ):
        _check_estimator(kind, target, params, search, task, path, allow, issues)
    if kind == "dask_xgboost" and task is not None:  # issue 16: its params, checked alike
        from engine.models import dask_xgboost

        cls = getattr(dask_xgboost, dask_xgboost.CLASSES[task].rsplit(".", 1)[1])
        targets.check_params(cls, params, path, issues)
        targets.search_keys_known(cls, search, join(path, "search"), issues)
    if kind == "dask_lightgbm" and task is not None:  # issue 16: an optional extra
        _dask_lightgbm(params, search, path, task, issues)
    extra: dict[str, Any] = {}
    if "imbalance" in reserved and entry.has("imbalance"):
        extra["imbalance"] = imbalance_spec(
            entry.mapping("imbalance", keys.IMBALANCE), task, issues
        )
    spec = specs.ModelSpec(
        name=name,
        kind=kind or "sklearn",
        target=target,
        params=specs.frozen_map(params),
        search=specs.frozen_map(search),
        resources=specs.frozen_map(resources),
        **extra,
    )
    _search_problems(spec, sweep, issues)
    return spec


def _check_estimator(
    kind: str,
    target: str,
    params: dict[str, Any],
    search: Any,
    task: str | None,
    path: str,
    allow: Sequence[str],
    issues: Issues,
) -> None:
    """The estimator class, its params, search keys and task; an entry that checked clean
    before is not checked (nor its library imported) again (:mod:`estimator_memo`)."""
    key = estimator_memo.entry_key(
        kind=kind, target=target, task=task, params=params, search=search, allow=allow
    )
    if key is not None and estimator_memo.known(key):
        return
    found = len(issues.problems)
    cls = targets.resolve(target, join(path, "_target_"), issues, allow)
    if cls is None:
        return
    stream = _learner_keys(kind, cls, path, issues)  # issue 16: kind incremental
    own = {k: v for k, v in params.items() if k not in stream}
    targets.check_params(cls, own, path, issues)
    keys_searched = [k for k in search if k not in stream]
    targets.search_keys_known(cls, keys_searched, join(path, "search"), issues)
    if task is not None:
        targets.check_task(cls, task, path, issues)
    if key is not None and len(issues.problems) == found:
        estimator_memo.remember(key)


def _dask_lightgbm(
    params: dict[str, Any], search: Any, path: str, task: str, issues: Issues
) -> None:
    """``kind: dask_lightgbm``: LightGBM installed (the ``lightgbm`` extra), the adapter's
    params, and no early stopping (LightGBM's Dask API has none)."""
    import importlib.util

    from engine.models import dask_lightgbm

    try:
        missing = importlib.util.find_spec("lightgbm") is None
    except ImportError:  # an import hook that refuses it counts as absent
        missing = True
    if missing:
        issues.add(
            join(path, "kind"),
            "kind dask_lightgbm needs LightGBM, which is not installed",
            expected="the lightgbm package (Sous's optional extra 'lightgbm')",
            got="no module named 'lightgbm'",
            hint=f"pip install 'sous[{dask_lightgbm.EXTRA}]' (or: pip install lightgbm)",
        )
    if "early_stopping_rounds" in params:
        issues.add(
            join(path, "early_stopping_rounds"),
            "LightGBM's Dask API cannot stop early (lightgbm issues #3712, #6351)",
            expected="no early_stopping_rounds with kind dask_lightgbm",
            got=repr(params["early_stopping_rounds"]),
            hint="remove it and sweep n_estimators instead, or use kind: dask_xgboost",
        )
        params = {k: v for k, v in params.items() if k != "early_stopping_rounds"}
    cls = getattr(dask_lightgbm, dask_lightgbm.CLASSES[task].rsplit(".", 1)[1])
    targets.check_params(cls, params, path, issues)
    targets.search_keys_known(cls, search, join(path, "search"), issues)


def _learner_keys(kind: str, cls: Any, path: str, issues: Issues) -> frozenset[str]:
    """Entry keys that are not the estimator's own: the streaming keys of ``kind:
    incremental`` (``batch_rows``, ``epochs``), whose learner must have partial_fit."""
    if kind != "incremental":
        return frozenset()
    from engine.models.incremental import STREAM_PARAMS

    if not hasattr(cls, "partial_fit"):
        issues.add(
            join(path, "_target_"),
            f"{cls.__name__} has no partial_fit, so it cannot learn incrementally",
            expected="an estimator with partial_fit (SGDClassifier, SGDRegressor, GaussianNB...)",
            got=cls.__name__,
            hint="use kind: sklearn for this estimator",
        )
    return frozenset(STREAM_PARAMS)


def _resources(
    entry: Section, params: dict[str, Any], kind: str | None, issues: Issues
) -> dict[str, Any]:
    """Worker resources; a Lightning model with ``accelerator: gpu`` asks for one GPU."""
    section = entry.mapping("resources")
    out = {k: v for k in section.data if (v := section.number(k, low=0)) is not None}
    if not out and kind == "lightning" and params.get("accelerator") == "gpu":
        out = {"GPU": 1}
    return out


def _search_problems(spec: specs.ModelSpec, sweep: specs.SweepSpec | None, issues: Issues) -> None:
    """Search-space grammar belongs to engine.sweeps (a grid needs enumerable ranges);
    report its problems with ours."""
    try:
        from engine.sweeps import search_problems
    except ImportError:
        return
    for p in search_problems(spec, sweep):
        issues.add(p.key_path, p.message, expected=p.expected, got=p.got, hint=p.hint)


def imbalance_spec(section: Section, task: str | None, issues: Issues) -> specs.ImbalanceSpec:
    strategy = section.text("strategy", "none", choices=keys.IMBALANCE_STRATEGIES)
    if task == "regression" and strategy != "none":
        issues.add(
            section.key("strategy"),
            "class imbalance strategies apply to classification only",
            expected="none",
            got=repr(strategy),
            hint="remove imbalance from a regression recipe",
        )
    options = section.mapping("options").data
    return specs.ImbalanceSpec(strategy=strategy, options=specs.frozen_map(options))
