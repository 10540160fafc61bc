"""A multirun's jobs validated before any is launched: a bad value in a sweep (a refused
``_target_``, an unknown option) is the user's error (exit 2, the override named), not a
failed job on a worker (exit 1) after the cluster started.

Each job's composed config is validated when the discrete sweeps make at most
:data:`EVERY_JOB_UP_TO` jobs; a bigger grid has each swept value validated on its own
against the other overrides (a config per value, not per job: validation composes with
Hydra, about half a second each), so a value that is wrong only in combination with another
is still found by its job. Sweeps a sweeper draws (``interval(...)``, Optuna) are validated
at their base value.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

from engine.errors import Problem, RecipeError

EVERY_JOB_UP_TO = 8


def validate_jobs(recipe: str, overrides: Sequence[str]) -> None:
    """Raise one :class:`RecipeError` listing every problem of the jobs of
    ``sous run -m RECIPE OVERRIDES`` (each problem once, with the first job that has it)."""
    from engine.recipe import load_recipe

    base, sweeps = _split(overrides)
    swept = {single: text for text, values in sweeps for single in values}
    problems: dict[tuple[str, str, str | None], Problem] = {}
    for job in _jobs([values for _, values in sweeps]):
        try:
            load_recipe(recipe, [*base, *job], reuse_validation=True)
        except RecipeError as exc:
            for p in exc.problems:
                key = (p.key_path, p.message, p.got)
                if key not in problems:
                    problems[key] = dataclasses.replace(
                        p, message=f"{p.message} ({_job(job, swept)})"
                    )
    if problems:
        raise RecipeError(list(problems.values()), recipe=recipe)


def _job(job: Sequence[str], swept: dict[str, str]) -> str:
    """Which job, by its values and the sweeps (as typed) they come from."""
    if not job:
        return "in every job"
    return "in the job " + " ".join(f"{v} (of `{swept[v]}`)" for v in job)


def _split(overrides: Sequence[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(plain overrides, each discrete sweep as typed with its single-value overrides);
    Hydra's own keys are left out (checked on Hydra's composed node before the launch)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    base: list[str] = []
    sweeps: list[tuple[str, list[str]]] = []
    for text in overrides:
        try:
            (parsed,) = parser.parse_overrides([text])
        except OverrideParseException:
            base.append(text)  # reported by validation, with the others
            continue
        if parsed.is_hydra_override():
            continue
        if not parsed.is_sweep_override():
            base.append(text)
        elif parsed.is_discrete_sweep():
            sweeps.append((text, [_single(parsed, v) for v in parsed.sweep_string_iterator()]))
    return base, sweeps


def _single(parsed: Any, value: str) -> str:
    return f"{parsed.get_key_element()}={value}"  # the key element keeps its + or ++


def _jobs(sweeps: list[list[str]]) -> list[list[str]]:
    sizes = 1
    for values in sweeps:
        sizes *= len(values)
    if sizes <= EVERY_JOB_UP_TO:
        return [list(job) for job in itertools.product(*sweeps)]
    return [[value] for values in sweeps for value in values]
