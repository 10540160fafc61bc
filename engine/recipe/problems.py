"""Collecting recipe problems instead of raising at the first one.

A recipe with three mistakes should cost the user one round trip, not three: every check
appends a :class:`~engine.errors.Problem` to an :class:`Issues` and the caller raises one
:class:`~engine.errors.RecipeError` at the end. :class:`Section` reads one mapping of the
plain (already resolved) config with typed getters that record a problem and return a
default instead of raising.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from engine.errors import Problem, RecipeError


class _Missing:
    """OmegaConf's ``???``: a value the recipe (or a config group) left for the user to fill."""

    def __repr__(self) -> str:
        return "???"


MISSING: Any = _Missing()


class _Broken:
    """A value that could not be read (a failing interpolation), already reported."""

    def __repr__(self) -> str:
        return "<unresolved>"


BROKEN: Any = _Broken()


def join(path: str, key: str | int) -> str:
    """``models`` + ``rf`` -> ``models.rf``; list indices as ``data.integrate[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    """How a wrong value is shown after "got": its repr and its YAML-ish type."""
    if value is MISSING:
        return "??? (a missing value)"
    kinds: dict[type, str] = {dict: "mapping", list: "list"}
    kind = kinds.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """A "did you mean" hint, or None when nothing is close."""
    word = str(word)
    others = sorted({str(o) for o in options} - {word})  # never the input itself
    same_case = [o for o in others if o.lower() == word.lower()]
    # short words (f2, r3) differ by a letter in half their length: a lower bar
    cutoff = 0.5 if len(word) <= 3 else 0.6
    close = same_case or difflib.get_close_matches(word, others, n=3, cutoff=cutoff)
    if not close:
        return None
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def one_of(options: Iterable[str]) -> str:
    return "one of " + ", ".join(sorted(set(options)))


class Issues:
    """The problems found so far, with the file and line where each key was written."""

    def __init__(self, file: str | None = None, lines: Mapping[str, int] | None = None):
        self.file = file
        self.lines = dict(lines or {})
        self.problems: list[Problem] = []

    def add(
        self,
        key_path: str,
        message: str,
        *,
        expected: str | None = None,
        got: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problems.append(
            Problem(
                key_path=key_path,
                message=message,
                expected=expected,
                got=got,
                hint=hint,
                file=self.file,
                line=self.line_of(key_path),
            )
        )

    def line_of(self, key_path: str) -> int | None:
        """The line of ``key_path`` in the recipe file, or of its nearest written parent."""
        path = key_path
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return None

    def missing(self, key_path: str, expected: str, hint: str | None = None) -> None:
        hint = hint or f"set {key_path} in the recipe, or on the command line: {key_path}=VALUE"
        self.add(key_path, "missing required value", expected=expected, got="nothing", hint=hint)

    def wrong(self, key_path: str, value: Any, expected: str, hint: str | None = None) -> None:
        if value is MISSING:
            self.missing(
                key_path, expected, hint or f"set {key_path} in the recipe or as an override"
            )
            return
        self.add(key_path, "invalid value", expected=expected, got=describe(value), hint=hint)

    def unknown_key(self, path: str, key: str, valid: Collection[str]) -> None:
        key_path = join(path, key)
        hint = did_you_mean(key, valid) or f"remove it; valid keys here: {', '.join(sorted(valid))}"
        self.add(key_path, "unknown key", expected=one_of(valid), got=repr(key), hint=hint)

    def raise_if_any(self, recipe: str | None = None) -> None:
        if self.problems:
            raise RecipeError(self.problems, recipe=recipe)


class Section:
    """Typed reads from one mapping of the recipe; problems are recorded, never raised."""

    def __init__(
        self,
        issues: Issues,
        data: Any,
        path: str,
        allowed: Collection[str] | None = None,
    ):
        self.issues = issues
        self.path = path
        self.data: dict[str, Any] = {}
        if data is MISSING:
            issues.missing(path, "a mapping")
        elif data is BROKEN:
            pass
        elif isinstance(data, Mapping):
            self.data = {str(k): v for k, v in data.items()}
        elif data is not None:
            issues.wrong(path, data, "a mapping")
        if allowed is not None:
            for key in self.data:
                if key not in allowed:
                    issues.unknown_key(path, key, allowed)

    def key(self, key: str) -> str:
        return join(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None or value is BROKEN else value

    def _value(self, key: str, required: bool, expected: str) -> Any:
        value = self.data.get(key)
        if value is BROKEN:
            return None
        if value is MISSING or (value is None and required):
            self.issues.missing(self.key(key), expected)
            return None
        return value

    def text(
        self,
        key: str,
        default: Any = None,
        *,
        required: bool = False,
        choices: Collection[str] | None = None,
    ) -> Any:
        """A string (one of ``choices`` when given); ``default`` when absent or invalid."""
        expected = one_of(choices) if choices else "a string"
        value = self._value(key, required, expected)
        if value is None:
            return default
        if not isinstance(value, str) or (choices is not None and value not in choices):
            hint = did_you_mean(str(value), choices) if choices else None
            self.issues.wrong(self.key(key), value, expected, hint)
            return default
        return value

    def integer(
        self,
        key: str,
        default: Any = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> Any:
        expected = "an integer" + (f" >= {minimum}" if minimum is not None else "")
        expected += f" <= {maximum}" if maximum is not None else ""
        value = self._value(key, False, expected)
        if value is None:
            return default
        out_of_range = is_int(value) and (
            (minimum is not None and value < minimum) or (maximum is not None and value > maximum)
        )
        if not is_int(value) or out_of_range:
            self.issues.wrong(self.key(key), value, expected)
            return default
        return value

    def number(
        self,
        key: str,
        default: Any = None,
        *,
        low: float | None = None,
        high: float | None = None,
        low_inclusive: bool = False,
    ) -> Any:
        """A float in the open interval (low, high) (``low_inclusive`` closes the left end)."""
        expected = _interval(low, high, low_inclusive)
        value = self._value(key, False, expected)
        if value is None:
            return default
        if not is_number(value) or not _inside(float(value), low, high, low_inclusive):
            self.issues.wrong(self.key(key), value, expected)
            return default
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._value(key, False, "true or false")
        if value is None:
            return default
        if not isinstance(value, bool):
            self.issues.wrong(self.key(key), value, "true or false")
            return default
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        """A list of strings; a single string is accepted as a list of one."""
        value = self._value(key, False, "a list of strings")
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.issues.wrong(self.key(key), value, "a list of strings")
        return ()

    def mapping(self, key: str, allowed: Collection[str] | None = None) -> Section:
        return Section(self.issues, self.data.get(key), self.key(key), allowed)

    def str_map(self, key: str, choices: Collection[str] | None = None) -> dict[str, str]:
        """A mapping of string -> string (values one of ``choices`` when given)."""
        section = self.mapping(key)
        return {k: v for k in section.data if (v := section.text(k, choices=choices)) is not None}


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _interval(low: float | None, high: float | None, low_inclusive: bool) -> str:
    if low is None and high is None:
        return "a number"
    left = "[" if low_inclusive else "("
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"a number in {left}{lo}, {hi})"


def _inside(value: float, low: float | None, high: float | None, low_inclusive: bool) -> bool:
    if low is not None and (value < low or (value == low and not low_inclusive)):
        return False
    return high is None or value < high
