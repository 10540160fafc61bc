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

from engine.errors import Problem, RecipeError
from engine.recipe import keys
from engine.recipe.locate import find_recipe
from engine.recipe.problems import did_you_mean
from engine.recipe.yamlfile import RecipeFile, read_recipe_file

if TYPE_CHECKING:
    from omegaconf import DictConfig

SELECTOR = "model"  # `model=NAME` keeps one model (see docs/recipes.md)


def builtin_conf_dir() -> Path:
    """The built-in config groups (source/, split/, model/...), wherever engine is installed."""
    import engine

    return Path(engine.__file__).resolve().parent / "conf"


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
    """Overrides ready for Hydra, or the problems that stop them."""

    hydra: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def compose(recipe: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The composed config of RECIPE with OVERRIDES; RecipeError lists every problem."""
    path, hydra_overrides = hydra_overrides_for(recipe, overrides)
    return _hydra_compose(path, hydra_overrides, list(overrides))


def hydra_overrides_for(recipe: str, overrides: Sequence[str] = ()) -> tuple[Path, list[str]]:
    """The recipe file and OVERRIDES as Hydra must see them (group selections made
    appendable, ``model=NAME`` turned into a selector, the built-in groups on the search
    path). Bad overrides raise one RecipeError. For Hydra apps other than :func:`compose`."""
    path = find_recipe(recipe)
    file = read_recipe_file(path)
    search = [path.parent, builtin_conf_dir(), *_extra_search_dirs(file)]
    prepared = _prepare(list(overrides), file, group_options(search))
    if prepared.problems:
        raise RecipeError(prepared.problems, recipe=str(path))
    searchpath = ",".join(f"'file://{d}'" for d in search[1:])
    return path, [*prepared.hydra, f"hydra.searchpath=[{searchpath}]"]


def _extra_search_dirs(file: RecipeFile) -> list[Path]:
    """Directories the recipe adds itself with ``hydra.searchpath: [file://...]``."""
    hydra = file.data.get("hydra")
    entries = hydra.get("searchpath") if isinstance(hydra, dict) else None
    dirs = []
    for entry in entries or []:
        if isinstance(entry, str) and entry.startswith("file://"):
            d = Path(entry[len("file://") :])
            dirs.append(d if d.is_absolute() else (file.path.parent / d).resolve())
    return dirs


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
    if key not in groups or override.is_delete() or not isinstance(value, str):
        out.hydra.append(text)
        return
    if key == SELECTOR and value not in groups[key]:
        out.hydra.append(f"++{SELECTOR}.name={value}")  # a recipe's own model; to_spec checks it
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
    out.hydra.append(text if is_default or override.is_add() else f"+{text}")


def _override_problem(text: str, message: str, **kw: Any) -> Problem:
    kw.setdefault("hint", "overrides look like key=value, group=option or +new.key=value")
    return Problem(key_path=text, message=message, **kw)


def _hydra_compose(path: Path, hydra_overrides: list[str], user_overrides: list[str]) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with (
            _fresh_global_hydra(),
            initialize_config_dir(config_dir=str(path.parent), job_name="sous", version_base="1.3"),
        ):
            return hydra_compose(config_name=path.stem, overrides=hydra_overrides)
    except (HydraException, OmegaConfBaseException, OSError) as exc:
        problem = _composition_problem(path, exc, user_overrides)
        raise RecipeError([problem], recipe=str(path)) from None


@contextmanager
def _fresh_global_hydra() -> Iterator[None]:
    """Compose even inside a running Hydra app, and give it back its state afterwards."""
    from hydra.core.global_hydra import GlobalHydra

    previous = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        GlobalHydra.instance().hydra = previous


def _composition_problem(path: Path, exc: BaseException, overrides: list[str]) -> Problem:
    text = str(exc).strip()
    message = text.splitlines()[0] if text else type(exc).__name__
    culprit = next((o for o in overrides if _mentions(text, o)), None)
    hint = None
    if culprit is not None:
        hint = _key_hint(culprit)
    return Problem(
        key_path=culprit or "",
        message=message,
        hint=hint,
        file=None if culprit else str(path),
    )


def _mentions(text: str, override: str) -> bool:
    key = re.split(r"[=~+]", override.lstrip("+~"), maxsplit=1)[0]
    return bool(key) and (f"'{key}'" in text or override in text)


def _key_hint(override: str) -> str:
    """Did-you-mean for ``section.key=value`` against the section's known keys."""
    key = override.lstrip("+~").split("=", 1)[0]
    section, _, leaf = key.rpartition(".")
    valid = keys.SECTIONS.get(section)
    close = did_you_mean(leaf, valid) if valid else None
    add = f"to add a new key write +{override.lstrip('+~')}"
    return f"{close} ({add})" if close else add
