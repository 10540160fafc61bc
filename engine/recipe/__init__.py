"""The recipe layer: find a recipe, compose it with Hydra, validate it into a RecipeSpec.

The only place (with ``engine/cli.py``) that sees Hydra and OmegaConf. Heavy imports
(hydra, omegaconf, sklearn) happen inside the functions, so importing this package is cheap
and ``sous --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import Problem, RecipeError
from engine.recipe.locate import find_recipe, recipe_dirs

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from engine.specs import RecipeSpec

__all__ = [
    "builtin_conf_dir",
    "compose",
    "find_recipe",
    "load_recipe",
    "recipe_dirs",
    "to_spec",
    "validate_recipe",
]


def builtin_conf_dir() -> Path:
    """engine/conf: the built-in config groups (for Hydra apps that add them to a search path)."""
    from engine.recipe.searchpath import builtin_conf_dir as conf_dir

    return conf_dir()


def compose(recipe: str, overrides: Sequence[str] = ()) -> DictConfig:
    """RECIPE (a name or a .yaml path) composed with OVERRIDES, as Hydra would."""
    from engine.recipe.composer import compose as compose_

    return compose_(recipe, overrides)


def to_spec(cfg: Any, *, source_file: str | None = None) -> RecipeSpec:
    """Validate a composed config and convert it; RecipeError lists ALL problems."""
    from engine.recipe.convert import to_spec as to_spec_

    return to_spec_(cfg, source_file=source_file)


def load_recipe(
    recipe: str,
    overrides: Sequence[str] = (),
    *,
    reuse_validation: bool = False,
    before_full_validation: Callable[[Any], None] | None = None,
) -> RecipeSpec:
    """find + compose + to_spec: the one call the CLI and the API need.

    Problems of the overrides and of the recipe are listed together in one RecipeError.
    ``reuse_validation``: a composed config that validated before is not checked again,
    only its data sources' existence (see :mod:`engine.recipe.memo`). ``before_full_validation(cfg)`` is called with the
    composed config when the slow checks are about to run (the CLI starts the cluster then)."""
    from engine.recipe import memo
    from engine.recipe.compose_memo import composed as compose_remembered
    from engine.recipe.secrets import holds_secrets

    composed = compose_remembered(recipe, overrides)
    problems = list(composed.problems)
    if composed.cfg is not None:
        memoise = not problems and not holds_secrets(composed.cfg)  # not even a hash of one
        key = memo.memo_key(composed.cfg, str(composed.path)) if memoise else None
        known = memo.recall(key) if reuse_validation and key else None
        if known is not None and memo.still_holds(known):
            return known
        if before_full_validation is not None:
            before_full_validation(composed.cfg)
        try:
            spec = to_spec(composed.cfg, source_file=str(composed.path))
        except RecipeError as exc:
            problems += [_from_override(p, overrides) for p in exc.problems]
        else:
            if not problems:
                if key:
                    memo.remember(key, spec)
                return spec
    raise RecipeError(_in_typed_order(problems, overrides), recipe=str(composed.path))


def _in_typed_order(problems: list[Problem], overrides: Sequence[str]) -> list[Problem]:
    """The overrides' problems in the order they were typed, then the recipe's own."""
    order = {text: i for i, text in enumerate(overrides)}

    def rank(p: Problem) -> int:
        text = p.key_path if p.key_path in order else _override_of(p.key_path, overrides)
        return order.get(text or "", len(overrides))

    return sorted(problems, key=rank)


def validate_recipe(recipe: str, overrides: Sequence[str] = ()) -> RecipeSpec:
    """Same as :func:`load_recipe`; the name ``sous validate`` calls."""
    return load_recipe(recipe, overrides)


def _from_override(problem: Problem, overrides: Sequence[str]) -> Problem:
    """A value set on the command line has no line in the file: point at the override."""
    text = _override_of(problem.key_path, overrides)
    if text is None:
        return problem
    fixed = dataclasses.replace(problem, file=None, line=None, hint=_with_override(problem, text))
    if problem.message == "unknown key":  # the override itself, as when Hydra refuses one
        return dataclasses.replace(
            fixed, key_path=text, message=f"unknown key {problem.key_path!r}"
        )
    return fixed


def _override_of(key_path: str, overrides: Sequence[str]) -> str | None:
    """The override that set ``key_path`` (the one naming the deepest key wins)."""
    found: tuple[int, str] | None = None
    for text in overrides:
        key = text.lstrip("+~").split("=", 1)[0]
        sets = key and (key_path == key or key_path.startswith(key + "."))
        if sets and (found is None or len(key) > found[0]):
            found = (len(key), text)
    return found[1] if found else None


def _with_override(problem: Problem, text: str) -> str:
    note = f"set on the command line by `{text}`"
    return f"{problem.hint} ({note})" if problem.hint else note
