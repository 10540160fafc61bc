"""The one exception tree of Sous.

User errors (bad recipe, bad override, bad argument) are marked with ``user_error = True``:
the CLI prints their message without a traceback and exits 2. Everything else that goes
wrong while running is a :class:`RunError` (exit 1). Exceptions carry structured fields so
tests assert on fields, not on message text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


class SousError(Exception):
    """Base of every error Sous raises on purpose."""

    user_error: bool = False
    exit_code: int = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe: where, what, expected vs got, and how to fix it."""

    key_path: str
    message: str
    expected: str | None = None
    got: str | None = None
    hint: str | None = None
    file: str | None = None
    line: int | None = None

    def render(self) -> str:
        where = self.key_path or "<recipe>"
        if self.file:
            where = f"{self.file}:{self.line}: {where}" if self.line else f"{self.file}: {where}"
        text = f"{where}: {self.message}"
        if self.expected is not None or self.got is not None:
            text += f" (expected {self.expected}, got {self.got})"
        if self.hint:
            text += f"\n    fix: {self.hint}"
        return text


class UserError(SousError):
    """The user's input is wrong; printed without traceback, exit code 2."""

    user_error = True
    exit_code = 2

    def __init__(self, message: str, *, key_path: str | None = None, hint: str | None = None):
        self.key_path = key_path
        self.hint = hint
        full = message if not hint else f"{message}\n    fix: {hint}"
        super().__init__(full)


class RecipeError(UserError):
    """A recipe has one or more problems; all of them are listed at once."""

    def __init__(self, problems: Sequence[Problem], recipe: str | None = None):
        self.problems = tuple(problems)
        self.recipe = recipe
        head = f"recipe {recipe!r} is invalid" if recipe else "recipe is invalid"
        n = len(self.problems)
        lines = [f"{head}: {n} problem{'s' if n != 1 else ''}"]
        lines += [f"  - {p.render()}" for p in self.problems]
        UserError.__init__(self, "\n".join(lines))

    @property
    def key_paths(self) -> tuple[str, ...]:
        return tuple(p.key_path for p in self.problems)


class RecipeNotFound(UserError):
    """RECIPE names no file and no recipe under any recipes directory."""


class NotFoundError(UserError):
    """A run, model, version or Bento the user named does not exist."""


class RunError(SousError):
    """A run or one of its steps failed (exit code 1)."""

    def __init__(self, message: str, *, step: str | None = None, run_id: str | None = None):
        self.step = step
        self.run_id = run_id
        super().__init__(message)


@dataclass(frozen=True)
class CheckFailure:
    """One failed schema check, for the validation report."""

    check: str
    column: str | None
    failed_rows: int
    examples: tuple[str, ...] = field(default_factory=tuple)


class DataValidationError(RunError):
    """Schema checks failed under ``schema.on_failure: fail``; nothing downstream ran."""

    def __init__(self, failures: Sequence[CheckFailure], report_path: str | None = None):
        self.failures = tuple(failures)
        self.report_path = report_path
        lines = [f"schema validation failed: {len(self.failures)} check(s)"]
        for f in self.failures:
            col = f" on {f.column!r}" if f.column else ""
            ex = f" e.g. {', '.join(f.examples)}" if f.examples else ""
            lines.append(f"  - {f.check}{col}: {f.failed_rows} row(s){ex}")
        if report_path:
            lines.append(f"  full failure table: {report_path}")
        super().__init__("\n".join(lines), step="validate")


class SourceError(RunError):
    """A data source could not be read (after retries); names the source."""

    def __init__(self, source: str, message: str):
        self.source = source
        super().__init__(f"source {source!r}: {message}", step=f"load:{source}")


class GateFailed(SousError):
    """The winner failed a gate: recorded, not packaged, not promoted (exit code 1)."""

    def __init__(self, failures: Sequence[str]):
        self.failures = tuple(failures)
        super().__init__("winner failed gate(s): " + "; ".join(self.failures))


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean 'x'?"`` for the closest choice, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def choices_hint(word: str, choices: Iterable[str]) -> str:
    """A fix hint: the closest choice when there is one, else the full list."""
    options = sorted(choices)
    near = did_you_mean(word, options)
    listed = "one of " + ", ".join(repr(c) for c in options) if options else "nothing known"
    return f"{near} (expected {listed})" if near else f"use {listed}"
