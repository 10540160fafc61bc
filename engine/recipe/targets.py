"""``_target_`` allowlist and estimator parameter checks.

A recipe names classes by import path, and importing a module runs its code: a recipe from
an untrusted place must not reach ``os.system``. Only paths under an allowed prefix are ever
imported (default ``sklearn.``, ``imblearn.``, ``engine.``; extend with
``security.allow_targets`` or ``$SOUS_ALLOW_TARGETS``). Imported estimators then check their
params with scikit-learn's own constraints, so errors read exactly like scikit-learn's.
"""

from __future__ import annotations

import importlib
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.recipe import keys
from engine.recipe.problems import Issues, describe, did_you_mean, join

_MUST = re.compile(r" must be (.+?)\. Got ", re.S)


def allowlist(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Allowed module prefixes: defaults + the recipe's + ``$SOUS_ALLOW_TARGETS``."""
    env = [p.strip() for p in os.environ.get("SOUS_ALLOW_TARGETS", "").split(",") if p.strip()]
    prefixes: list[str] = []
    for p in (*keys.DEFAULT_ALLOW_TARGETS, *extra, *env):
        p = p if p.endswith(".") else p + "."
        if p not in prefixes:
            prefixes.append(p)
    return tuple(prefixes)


def is_allowed(dotted: str, allow: Sequence[str]) -> bool:
    """``sklearn.ensemble.X`` is under ``sklearn.``; so is the module ``sklearn`` itself."""
    return any(dotted.startswith(p) or dotted == p[:-1] for p in allow)


def check_all_targets(value: Any, path: str, issues: Issues, allow: Sequence[str]) -> None:
    """Refuse every ``_target_`` outside the allowlist, wherever it sits in the recipe."""
    if isinstance(value, Mapping):
        target = value.get("_target_")
        if target is not None and not (isinstance(target, str) and is_allowed(target, allow)):
            _refuse(join(path, "_target_"), target, issues, allow)
        for k, v in value.items():
            if k != "_target_":
                check_all_targets(v, join(path, str(k)), issues, allow)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_all_targets(v, join(path, i), issues, allow)


def _refuse(path: str, target: Any, issues: Issues, allow: Sequence[str]) -> None:
    issues.add(
        path,
        "_target_ not allowed: recipes may only name classes under the allowed modules",
        expected="a dotted path under " + ", ".join(allow),
        got=describe(target),
        hint="if you trust this code, add its module prefix to security.allow_targets in the "
        "recipe or to $SOUS_ALLOW_TARGETS (comma-separated)",
    )


def resolve(target: str, path: str, issues: Issues, allow: Sequence[str]) -> Any | None:
    """Import an allowed ``_target_``; None (and a problem) when it cannot be found."""
    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        if not is_allowed(module_name, allow):
            break
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        if not is_allowed(getattr(obj, "__module__", None) or module_name, allow):
            _refuse(path, target, issues, allow)  # e.g. sklearn.x.os.system
            return None
        return obj
    issues.add(
        path,
        "cannot import _target_",
        expected="an importable class, e.g. sklearn.ensemble.RandomForestClassifier",
        got=repr(target),
        hint="check the spelling and that the package is installed",
    )
    return None


def param_names(cls: Any) -> tuple[str, ...] | None:
    """Constructor params of a scikit-learn style estimator class (None if not one)."""
    getter = getattr(cls, "_get_param_names", None)
    if not isinstance(cls, type) or getter is None:
        return None
    try:
        return tuple(getter())
    except Exception:
        return None


def check_params(
    cls: Any, params: Mapping[str, Any], path: str, issues: Issues, *, what: str = ""
) -> None:
    """Unknown param names (with did-you-mean) and values scikit-learn would reject."""
    names = param_names(cls)
    if names is None:
        return
    for key in params:
        if key not in names:
            issues.add(
                join(path, key),
                f"{cls.__name__} has no parameter {key!r}{what}",
                expected=f"a parameter of {cls.__name__}",
                got=repr(key),
                hint=did_you_mean(key, names) or "remove it; valid: " + ", ".join(names),
            )
    _check_values(cls, {k: v for k, v in params.items() if k in names}, path, issues)


def _check_values(cls: Any, params: Mapping[str, Any], path: str, issues: Issues) -> None:
    constraints = getattr(cls, "_parameter_constraints", None)
    if not isinstance(constraints, Mapping):
        return
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    for key, value in params.items():
        if key not in constraints or _is_nested(value):
            continue
        try:
            validate_parameter_constraints(
                {key: constraints[key]}, {key: value}, caller_name=cls.__name__
            )
        except InvalidParameterError as exc:
            message = str(exc)
            expected = _MUST.search(message)
            issues.add(
                join(path, key),
                message,
                expected=expected.group(1) if expected else None,
                got=describe(value),
                hint=f"see help({cls.__module__}.{cls.__name__})",
            )


def _is_nested(value: Any) -> bool:
    """An object the model builder instantiates (``{_target_: ...}``), not a literal."""
    if isinstance(value, Mapping):
        return "_target_" in value
    if isinstance(value, list):
        return any(_is_nested(v) for v in value)
    return False


def check_task(cls: Any, task: str, path: str, issues: Issues) -> None:
    """A regressor in a classification recipe (or the reverse) fails late and confusingly."""
    if param_names(cls) is None:
        return  # not a scikit-learn style estimator: nothing to ask
    from sklearn.base import is_classifier, is_regressor

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = cls()
            is_clf, is_reg = is_classifier(estimator), is_regressor(estimator)
    except Exception:
        return  # needs arguments (a Pipeline, a meta-estimator): cannot tell cheaply
    kind = "classifier" if is_clf else "regressor" if is_reg else None
    wanted = {"classification": "classifier", "regression": "regressor"}.get(task)
    if kind is not None and wanted is not None and kind != wanted:
        issues.add(
            join(path, "_target_"),
            f"{cls.__name__} is a {kind} but the recipe's task is {task}",
            expected=f"a {wanted}",
            got=f"{cls.__module__}.{cls.__name__}",
            hint=f"use the {wanted} variant or change task",
        )


def search_keys_known(cls: Any, search: Iterable[str], path: str, issues: Issues) -> None:
    """A search space over a param the estimator does not have would fail every trial."""
    names = param_names(cls)
    if names is None:
        return
    for key in search:
        if key not in names:
            issues.add(
                join(path, key),
                f"search space for unknown parameter of {cls.__name__}",
                expected="one of its parameters",
                got=repr(key),
                hint=did_you_mean(key, names) or "remove it",
            )
