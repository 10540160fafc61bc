"""Compose a recipe with Hydra: the recipe file, the built-in config groups, the overrides.

Everything Hydra could reject is checked first, one override at a time, so that a bad
override is reported as a :class:`~engine.errors.Problem` whose key path *is* the override,
with the options that exist. Hydra's global state is left exactly as it was found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.errors import Problem, RecipeError
from engine.recipe import guard, keys
from engine.recipe.composed import Composed
from engine.recipe.locate import find_recipe
from engine.recipe.problems import did_you_mean
from engine.recipe.searchpath import builtin_conf_dir, sous_searchpath
from engine.recipe.yamlfile import (
    RecipeFile,
    check_alias_expansion,
    read_recipe_file,
    syntax_problem,
)

if TYPE_CHECKING:
    from omegaconf import DictConfig

SELECTOR = "model"  # `model=NAME` keeps one model (see docs/recipes.md)


def group_options(search_dirs: Sequence[Path]) -> dict[str, set[str]]:
    """Config group -> option names, over every directory on the search path."""
    groups: dict[str, set[str]] = {}
    for d in search_dirs:
        if not d.is_dir():
            continue
        for sub in d.iterdir():
            names = {p.stem for p in sub.glob("*.y*ml")} if sub.is_dir() else set()
            if names:
                groups.setdefault(sub.name, set()).update(names)
    return groups


@dataclass
class _Prepared:
    """Overrides ready for Hydra (user text -> Hydra text), and the problems of the rest."""

    hydra: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def compose(recipe: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The composed config of RECIPE with OVERRIDES; RecipeError lists every problem."""
    result = compose_collecting(recipe, overrides)
    if result.problems or result.cfg is None:
        raise RecipeError(result.problems, recipe=str(result.path))
    return result.cfg


def compose_collecting(recipe: str, overrides: Sequence[str] = ()) -> Composed:
    """Compose with every override Hydra accepts; each rejected one becomes a problem.

    Hydra stops at the first bad override; dropping it and composing again (once per bad
    override) lets ``sous validate`` list them all, plus the recipe's own problems."""
    path, prepared, searchpath = _prepare_for(recipe, overrides)
    problems = list(prepared.problems)
    accepted = dict(prepared.hydra)
    while True:
        try:
            cfg = _hydra_compose(path, [*accepted.values(), searchpath])
        except _CompositionFailed as failed:
            if failed.problems:
                return Composed(path, None, (*problems, *failed.problems))
            culprit = _culprit(failed.text, list(accepted))
            problems.append(_composition_problem(path, failed.text, culprit))
            if culprit is None:
                return Composed(path, None, tuple(problems))
            del accepted[culprit]
            continue
        return Composed(path, cfg, tuple(problems))


def hydra_overrides_for(recipe: str, overrides: Sequence[str] = ()) -> tuple[Path, list[str]]:
    """The recipe file and OVERRIDES as Hydra must see them (group selections made
    appendable, ``model=NAME`` turned into a selector, the built-in groups on the search
    path). Bad overrides raise one RecipeError. For Hydra apps other than :func:`compose`."""
    path, prepared, searchpath = _prepare_for(recipe, overrides)
    if prepared.problems:
        raise RecipeError(prepared.problems, recipe=str(path))
    return path, [*prepared.hydra.values(), searchpath]


def _prepare_for(recipe: str, overrides: Sequence[str]) -> tuple[Path, _Prepared, str]:
    path = find_recipe(recipe)
    file = read_recipe_file(path)
    refused = guard.recipe_file_problems(file.data, file.lines, path)
    if refused:  # Hydra must not even read a recipe that sets code-running keys
        raise RecipeError(refused, recipe=str(path))
    search = [path.parent, builtin_conf_dir()]
    _check_files_hydra_may_read(file)
    refused = guard.override_problems(overrides)
    allowed = [o for o in overrides if not any(p.key_path == o for p in refused)]
    prepared = _prepare(allowed, file, group_options(search))
    prepared.problems[:0] = refused
    return path, prepared, f"hydra.searchpath=[{','.join(repr(p) for p in sous_searchpath())}]"


def _check_files_hydra_may_read(file: RecipeFile) -> None:
    """Bound alias expansion in the YAML files Hydra may load next to the recipe too: the
    config groups in its directory and the sibling configs its ``defaults`` name."""
    names = [e for e in file.defaults() if isinstance(e, str) and e != "_self_"]
    candidates = [file.path.parent / f"{n}{s}" for n in names for s in (".yaml", ".yml")]
    for sub in file.path.parent.iterdir():
        if sub.is_dir():
            candidates += [*sub.glob("*.yaml"), *sub.glob("*.yml")]
    for candidate in candidates:
        if candidate.is_file():
            check_alias_expansion(
                candidate.read_text(encoding="utf-8", errors="replace"), candidate
            )


def _prepare(overrides: list[str], file: RecipeFile, groups: dict[str, set[str]]) -> _Prepared:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    out = _Prepared()
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
        except OverrideParseException as exc:
            out.problems.append(_override_problem(text, f"cannot parse override: {exc}"))
            continue
        _prepare_one(text, override, file, groups, out)
    return out


def _prepare_one(
    text: str, override: Any, file: RecipeFile, groups: dict[str, set[str]], out: _Prepared
) -> None:
    key = override.key_or_group
    if override.is_sweep_override():
        hint = f"run a sweep with `sous run {file.path.stem} -m {text}`"
        out.problems.append(_override_problem(text, "a sweep override needs multirun", hint=hint))
        return
    value = override.value()
    if key.startswith("hydra.run.") and override.is_hydra_override():
        out.problems.append(_run_dir_refused(text))
        return
    if key not in groups or override.is_delete() or not isinstance(value, str):
        out.hydra[text] = _settable(text, override)
        return
    if key == SELECTOR and value not in groups[key]:
        out.hydra[text] = f"++{SELECTOR}.name={value}"  # a recipe's own model; to_spec checks it
        return
    if value not in groups[key]:
        available = ", ".join(sorted(groups[key]))
        hint = did_you_mean(value, groups[key]) or f"available options: {available}"
        out.problems.append(
            _override_problem(
                text,
                f"config group {key!r} has no option {value!r}",
                expected=f"one of {available}",
                got=repr(value),
                hint=hint,
            )
        )
        return
    is_default = key in file.default_groups()
    out.hydra[text] = text if is_default or override.is_add() else f"+{text}"


def _settable(text: str, override: Any) -> str:
    """``section.key=value`` for a recipe section or a model's parameter, whether or not the
    recipe (or a config group) wrote that section: ``cv.folds=3`` sets the default ``cv``
    section's key, and an unknown key reaches the recipe's checks, which name the valid
    spelling (the estimator's own for a model parameter) instead of asking for ``+``."""
    key = override.key_or_group
    if override.is_add() or override.is_force_add() or override.is_delete() or "." not in key:
        return text
    section = key.split(".", 1)[0]
    known = section in keys.TOP_LEVEL and section not in _GROUP_SECTIONS
    return f"++{text}" if known else text


# Sections a config group fills (``model=rf``), or where ``+`` has another meaning; for
# ``models`` the recipe names the model (``models.NAME.param``), which must exist.
_GROUP_SECTIONS = frozenset({"model"})


def _run_dir_refused(text: str) -> Problem:
    return Problem(
        key_path=text,
        message="hydra.run.* is not used: a single run keeps its outputs under "
        "$SOUS_HOME/runs/RUN_ID (its log, report and record), not in Hydra's run directory",
        expected="no hydra.run override",
        got=repr(text),
        hint="move every output with SOUS_HOME=DIR; a multirun honours hydra.sweep.dir",
    )


def _override_problem(text: str, message: str, **kw: Any) -> Problem:
    kw.setdefault("hint", "overrides look like key=value, group=option or +new.key=value")
    return Problem(key_path=text, message=message, **kw)


class _CompositionFailed(Exception):
    def __init__(self, text: str, *problems: Problem):
        self.text = text
        self.problems = problems  # already precise (a YAML error in a group file...)
        super().__init__(text)


def _hydra_compose(path: Path, hydra_overrides: list[str], *, keep_hydra: bool = False) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import open_dict, read_write
    from omegaconf.errors import OmegaConfBaseException

    try:
        with (
            _fresh_global_hydra(),
            initialize_config_dir(config_dir=str(path.parent), job_name="sous", version_base="1.3"),
        ):
            cfg = hydra_compose(
                config_name=path.stem, overrides=hydra_overrides, return_hydra_config=True
            )
    except yaml.YAMLError as exc:  # a config group file, read by Hydra, not by us
        mark = getattr(exc, "problem_mark", None)
        problem = syntax_problem(Path(mark.name) if mark else path, exc)
        raise _CompositionFailed(problem.message, problem) from None
    except (HydraException, OmegaConfBaseException, OSError, ValueError) as exc:
        # ValueError: Hydra's word for a malformed defaults list
        raise _CompositionFailed(str(exc).strip() or type(exc).__name__) from None
    refused = guard.hydra_node_problems(cfg.get("hydra"), sous_searchpath(), str(path))
    if refused:  # set by a config group file: nothing ran yet (only a multirun would)
        raise _CompositionFailed(refused[0].message, *refused)
    if keep_hydra:  # for --cfg hydra|all
        return cfg
    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    return cfg


@contextmanager
def _fresh_global_hydra() -> Iterator[None]:
    """Compose even inside a running Hydra app, and give it back its state afterwards
    (its global instance, and the process-wide `version_base` that initialize() sets)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.version import VersionBase

    previous = GlobalHydra.instance().hydra
    base = VersionBase.instance().version_base
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        GlobalHydra.instance().hydra = previous
        VersionBase.instance().version_base = base


def _culprit(text: str, overrides: list[str]) -> str | None:
    """The override Hydra's message is about (it quotes the key)."""
    return next((o for o in overrides if _mentions(text, o)), None)


def _composition_problem(path: Path, text: str, culprit: str | None) -> Problem:
    message = text.splitlines()[0]
    if culprit and "To append to your config" in text:
        message = f"unknown key {culprit.lstrip('+~').split('=', 1)[0]!r} ({message})"
    return Problem(
        key_path=culprit or "",
        message=message,
        hint=_key_hint(culprit) if culprit else None,
        file=None if culprit else str(path),
    )


def _mentions(text: str, override: str) -> bool:
    key = re.split(r"[=~+]", override.lstrip("+~"), maxsplit=1)[0]
    return bool(key) and (f"'{key}'" in text or override in text)


def _key_hint(override: str) -> str:
    """Did-you-mean for ``section.key=value`` against the section's known keys."""
    key = override.lstrip("+~").split("=", 1)[0]
    top = key.split(".", 1)[0]
    if "." in key and top not in keys.TOP_LEVEL and not top.startswith("hydra"):
        close = did_you_mean(top, keys.TOP_LEVEL)
        if close:
            return f"{close} ({top!r} is not a recipe section)"
    section, _, leaf = key.rpartition(".")
    valid = keys.SECTIONS.get(section)
    close = did_you_mean(leaf, valid) if valid else None
    add = f"to add a new key write +{override.lstrip('+~')}"
    return close or add
