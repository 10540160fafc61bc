"""``_target_`` checks at validation, and estimator parameter checks.

A recipe names classes by import path, and importing a module or calling a function runs
code: a recipe from an untrusted place must not reach ``os.system``. The rules (allowlist
from the operator only, no private modules, estimator classes only) live in
:mod:`engine.security.targets`, shared with the model builder; this module turns them into
recipe problems. A ``_target_`` may only appear where Sous instantiates one: under
``models.`` (and the built-in ``model`` selector). Imported estimators then check their
params with scikit-learn's own constraints, so errors read exactly like scikit-learn's.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.recipe.problems import Issues, describe, did_you_mean, join
from engine.security import targets as rules

_MUST = re.compile(r" must be (.+?)\. Got ", re.S)
_OPTIONS = re.compile(r"among \{(.*?)\}", re.S)
TARGET_SECTIONS = ("models", "model")  # where Sous instantiates a _target_


def allowlist(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Allowed module prefixes: defaults + ``$SOUS_ALLOW_TARGETS`` (+ ``extra`` from API
    callers; never from the recipe)."""
    return rules.allowlist(extra)


def is_allowed(dotted: str, allow: Sequence[str]) -> bool:
    """Whether ``dotted`` may be imported at all (allowlisted, no private component)."""
    return rules.refusal(dotted, allow) is None


def check_all_targets(value: Any, path: str, issues: Issues, allow: Sequence[str]) -> None:
    """Refuse every ``_target_`` outside ``models.*`` and every one the rules refuse,
    wherever it sits in the recipe. Text only: nothing is imported here."""
    if isinstance(value, Mapping):
        target = value.get("_target_")
        if target is not None:
            where = join(path, "_target_")
            if where.split(".", 1)[0].split("[", 1)[0] not in TARGET_SECTIONS:
                issues.add(
                    where,
                    "_target_ is only allowed in models: Sous instantiates nothing else",
                    expected="no _target_ outside models.*",
                    got=describe(target),
                    hint="remove it; models are declared under models.NAME._target_",
                )
            elif (why := rules.refusal(target, allow)) is not None:
                _refuse(where, target, why, issues)
        for k, v in value.items():
            if k != "_target_":
                check_all_targets(v, join(path, str(k)), issues, allow)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_all_targets(v, join(path, i), issues, allow)


def _refuse(path: str, target: Any, why: rules.Refusal, issues: Issues) -> None:
    issues.add(path, why.message, expected=why.expected, got=describe(target), hint=why.hint)


def resolve(target: str, path: str, issues: Issues, allow: Sequence[str]) -> Any | None:
    """The estimator class of an allowed ``_target_``; None (and a problem) when it cannot
    be found or is not an estimator class. Nothing is called."""
    try:
        return rules.resolve_class(target, allow)
    except rules.TargetRefused as exc:
        _refuse(path, target, exc.refusal, issues)
        return None
    except ImportError:
        issues.add(
            path,
            "cannot import _target_",
            expected="an importable class, e.g. sklearn.ensemble.RandomForestClassifier",
            got=repr(target),
            hint=_target_hint(target) or "check the spelling and that the package is installed",
        )
        return None


def _target_hint(target: str) -> str | None:
    """A misspelled class of a module that imported: the module's public names nearest it.
    Only modules already imported are read (nothing new is imported for a hint)."""
    import sys

    module_name, _, name = target.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        return None
    public = [
        n
        for n in dir(module)
        if not n.startswith("_") and isinstance(getattr(module, n, None), type)
    ]
    close = did_you_mean(name, public)
    if close is None:
        return None
    return close.replace("'", f"'{module_name}.", 1).replace(" or '", f" or '{module_name}.")


def public_path(cls: Any) -> str:
    """``sklearn.ensemble.RandomForestClassifier``, not ``sklearn.ensemble._forest....``: the
    shortest imported package that exports the class (its own module when none does)."""
    import sys

    parts = cls.__module__.split(".")
    for i in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:i]))
        exported = module is not None and getattr(module, cls.__name__, None) is cls
        if exported and not any(p.startswith("_") for p in parts[:i]):
            return f"{'.'.join(parts[:i])}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__name__}"


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
            options = _OPTIONS.search(message)
            close = (
                did_you_mean(str(value), re.findall(r"'([^']*)'", options.group(1)))
                if options and isinstance(value, str)
                else None
            )
            see = f"see help({public_path(cls)})"
            issues.add(
                join(path, key),
                message,
                expected=expected.group(1) if expected else None,
                got=describe(value),
                hint=f"{close} ({see})" if close else see,
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
            got=public_path(cls),
            hint=_variant_hint(cls, kind, wanted, task),
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


def _variant_hint(cls: Any, kind: str, wanted: str, task: str) -> str:
    """``RandomForestRegressor`` in a classification recipe: name ``...Classifier``."""
    import sys

    swap = cls.__name__.replace(kind.capitalize(), wanted.capitalize())
    module_name = public_path(cls).rpartition(".")[0]
    module = sys.modules.get(module_name)
    if swap != cls.__name__ and isinstance(getattr(module, swap, None), type):
        return f"did you mean {module_name}.{swap}? (or change task: {task} needs a {wanted})"
    return f"use a {wanted} (e.g. from the same module), or change task"
