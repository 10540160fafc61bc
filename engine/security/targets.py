"""Which ``_target_`` a recipe may name, checked before anything is imported or called.

Importing a module runs its code and calling a function can do anything, so a ``_target_``
must (1) be a dotted path under a prefix the *operator* allowed, with no private component
(``sklearn.utils._testing``) unless an allowed prefix names it, before any import; and (2)
resolve to a class that is a scikit-learn estimator (a ``BaseEstimator`` subclass with
``fit``), never a function. The recipe layer checks this at validation, the model builder
again right before it instantiates: a spec that reaches a worker by another path (a pickled
spec, a multirun job) is not trusted either. The allowlist grows only from outside the
recipe: ``$SOUS_ALLOW_TARGETS`` (the ``--allow-target`` flag adds to it).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_ALLOW_TARGETS = ("sklearn.", "imblearn.", "engine.")
ENV = "SOUS_ALLOW_TARGETS"
FIX = (
    f"if you trust this code, allow its module prefix from outside the recipe: "
    f"export {ENV}=PREFIX (comma-separated) or pass --allow-target PREFIX"
)


@dataclass(frozen=True)
class Refusal:
    """Why a ``_target_`` was refused: a message, what was expected, and how to fix it."""

    message: str
    expected: str
    hint: str


class TargetRefused(Exception):
    """Raised by :func:`resolve_class`; carries the :class:`Refusal`."""

    def __init__(self, refusal: Refusal):
        self.refusal = refusal
        super().__init__(refusal.message)


def operator_prefixes(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Prefixes the operator added: ``extra`` (API callers) and ``$SOUS_ALLOW_TARGETS``."""
    env = [p.strip() for p in os.environ.get(ENV, "").split(",") if p.strip()]
    return tuple(_prefix(p) for p in (*extra, *env))


def allowlist(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Allowed module prefixes, each ending in ``.``: the defaults, then the operator's."""
    out: list[str] = []
    for p in (*DEFAULT_ALLOW_TARGETS, *operator_prefixes(extra)):
        if p not in out:
            out.append(p)
    return tuple(out)


def add_to_environment(prefixes: Sequence[str]) -> None:
    """``--allow-target``: extend ``$SOUS_ALLOW_TARGETS`` of this process (and so of the
    workers it starts, which check again at build time)."""
    if not prefixes:
        return
    current = [p for p in os.environ.get(ENV, "").split(",") if p.strip()]
    os.environ[ENV] = ",".join([*current, *prefixes])


def is_allowed(dotted: str, allow: Sequence[str]) -> bool:
    """``sklearn.ensemble.X`` is under ``sklearn.``; so is the module ``sklearn`` itself."""
    return _matching_prefix(dotted, allow) is not None


def refusal(dotted: Any, allow: Sequence[str]) -> Refusal | None:
    """Why ``dotted`` may not even be imported, or None. Looks at the text only."""
    expected = "a class under " + ", ".join(allow) + " (no private module)"
    parts = dotted.split(".") if isinstance(dotted, str) else []
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return Refusal("_target_ must be a dotted import path of a class", expected, FIX)
    prefix = _matching_prefix(dotted, allow)
    if prefix is None:
        return Refusal(
            "_target_ not allowed: recipes may only name classes under the allowed modules",
            expected,
            FIX,
        )
    rest = dotted[len(prefix) :].split(".") if len(dotted) > len(prefix) else []
    private = [p for p in rest if p.startswith("_")]
    if private:
        return Refusal(
            f"_target_ goes through the private name {private[0]!r}: private modules are "
            "internal code, not estimators",
            expected,
            "use the public import path (e.g. sklearn.ensemble.RandomForestClassifier); "
            + FIX.replace("PREFIX", "PREFIX naming the private module"),
        )
    return None


def resolve_class(dotted: str, allow: Sequence[str]) -> type:
    """The estimator class named by ``dotted``: checked as text first, then imported (only
    modules under the allowlist), then checked to be an estimator class. Nothing is called.
    Raises :class:`TargetRefused`, or ImportError when it does not exist."""
    why = refusal(dotted, allow)
    if why is not None:
        raise TargetRefused(why)
    obj = _import(dotted, allow)
    why = not_an_estimator_class(obj, allow)
    if why is not None:
        raise TargetRefused(why)
    return obj  # type: ignore[no-any-return]


def not_an_estimator_class(obj: Any, allow: Sequence[str]) -> Refusal | None:
    """None if ``obj`` is a scikit-learn estimator class defined under the allowlist."""
    expected = "a scikit-learn estimator class (a BaseEstimator subclass with fit)"
    hint = "name an estimator class, e.g. sklearn.ensemble.RandomForestClassifier"
    if not isinstance(obj, type):
        what = type(obj).__name__
        return Refusal(f"_target_ is a {what}, not a class: it would be called", expected, hint)
    module = getattr(obj, "__module__", "") or ""
    if not is_allowed(module, allow):
        return Refusal(
            f"_target_ is re-exported from {module!r}, outside the allowed modules",
            expected,
            FIX,
        )
    from sklearn.base import BaseEstimator

    if not issubclass(obj, BaseEstimator) or not callable(getattr(obj, "fit", None)):
        return Refusal(f"{obj.__name__} is a class but not an estimator", expected, hint)
    return None


def _import(dotted: str, allow: Sequence[str]) -> Any:
    """Longest importable module prefix of ``dotted`` (each one allowed), then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        if not is_allowed(module_name, allow):
            break
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in parts[i:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                raise ImportError(f"{module_name} has no attribute {attr!r}") from None
        return obj
    raise ImportError(f"no module of {dotted!r} can be imported")


def _matching_prefix(dotted: str, allow: Sequence[str]) -> str | None:
    """The longest allowed prefix covering ``dotted`` (a module equal to a prefix counts)."""
    hits = [p for p in allow if dotted.startswith(p) or dotted == p[:-1]]
    return max(hits, key=len) if hits else None


def _prefix(p: str) -> str:
    p = p.strip()
    return p if p.endswith(".") else p + "."
