"""Keys a recipe or an override may not set: the allowlist, and Hydra's code-running keys.

Recipes come from pull requests and overrides from CI jobs; neither is trusted (see
docs/security.md). Hydra instantiates ``_target_`` objects and runs callbacks in multirun,
configures logging through ``dictConfig`` (whose ``()`` factories call anything), sets
environment variables (``hydra.job.env_set``) and merges files named in
``hydra.searchpath``. So these are refused, with the key path, in three places: the recipe
file as written and the raw override strings (before Hydra reads anything), and Hydra's
composed ``hydra`` node (before a multirun starts: a config group file can set keys too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.recipe.problems import describe, join
from engine.security.targets import ENV

# Under ``hydra.``: code-running or file-pulling keys (a prefix refuses its whole subtree).
FORBIDDEN_HYDRA = (
    "callbacks",
    "searchpath",
    "job.env_set",
    "job_logging",
    "hydra_logging",
    "launcher._target_",
    "sweeper._target_",
)
# ``hydra/GROUP=OPTION`` selections: logging groups only with Hydra's own options.
BUILTIN_LOGGING = frozenset({"default", "disabled", "none", "stdout"})
REFUSED_GROUPS = frozenset({"hydra/callbacks", "hydra/env"})
LOGGING_GROUPS = frozenset({"hydra/job_logging", "hydra/hydra_logging"})
SAFE_LOGGING_MODULES = ("logging.", "sys.")
ALLOW_HINT = f"set ${ENV} (comma-separated prefixes) or pass --allow-target PREFIX"


def security_section(
    data: Mapping[str, Any], lines: Mapping[str, int], file: str | None
) -> list[Problem]:
    """``security.*`` in a composed recipe: the recipe cannot widen its own allowlist."""
    section = data.get("security")
    if section is None:
        return []
    names = list(section) if isinstance(section, Mapping) and section else [None]
    return [
        Problem(
            key_path=path,
            message="a recipe cannot widen the _target_ allowlist: the operator does",
            expected="no security section in a recipe or an override",
            got=describe(section[name] if name is not None else section),
            hint=f"remove it; to trust more modules, {ALLOW_HINT}",
            file=file,
            line=lines.get(path) or lines.get("security"),
        )
        for name in names
        for path in [join("security", str(name)) if name is not None else "security"]
    ]


def recipe_file_problems(
    data: Mapping[str, Any], lines: Mapping[str, int], file: Path
) -> list[Problem]:
    """The ``hydra:`` section and the ``defaults`` of the recipe file as written."""
    out = security_section(data, lines, str(file))
    out += [
        _hydra_problem(path, value, file=str(file), line=lines.get(path))
        for path, value in _forbidden_in(data.get("hydra"), "hydra")
    ]
    defaults = data.get("defaults")
    for i, entry in enumerate(defaults if isinstance(defaults, list) else []):
        if isinstance(entry, Mapping):
            for key, option in entry.items():
                group = str(key).split()[-1].lstrip("/")
                if _group_refused(group, option):
                    path = join("defaults", i)
                    out.append(_group_problem(path, group, option, str(file), lines.get(path)))
    return out


def override_problems(overrides: Sequence[str]) -> list[Problem]:
    """Raw override strings, before Hydra parses or applies any of them."""
    out: list[Problem] = []
    for text in overrides:
        key, _, value = text.lstrip("+~").partition("=")
        key, _, package = key.strip().partition("@")  # group@package: where it lands
        if package == "hydra" or package.startswith("hydra."):
            out.append(_hydra_problem(text, value, file=None, line=None))
            continue
        if key == "security" or key.startswith("security."):
            out += security_section({"security": {key[9:] or "": value}}, {}, None)
            out[-1] = dataclasses.replace(out[-1], key_path=text)
        elif key.startswith("hydra/"):
            if _group_refused(key, value.strip()):
                out.append(_group_problem(text, key, value.strip(), None, None))
        elif key == "hydra" or key.startswith("hydra."):
            rest = key[len("hydra.") :] if key != "hydra" else ""
            if not rest or _is_forbidden(rest) or "_target_" in rest.split("."):
                out.append(_hydra_problem(text, value, file=None, line=None))
        elif "_target_" in key.split(".") and key.split(".", 1)[0] not in ("models", "model"):
            out.append(
                Problem(
                    key_path=text,
                    message="_target_ is only allowed in models: Sous instantiates nothing else",
                    expected="no _target_ outside models.*",
                    got=repr(value),
                    hint="remove the override",
                )
            )
    return out


def hydra_node_problems(hydra: Any, searchpath: Sequence[str], file: str | None) -> list[Problem]:
    """Hydra's composed ``hydra`` node (a DictConfig), checked before a multirun starts:
    no callbacks, no env_set, only Sous's search path, only installed launcher and sweeper
    plugins, no ``_target_`` elsewhere, no code in the logging configs."""
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(hydra, resolve=False) if hydra is not None else {}
    if not isinstance(node, dict):
        return []
    found: list[tuple[str, Any]] = []
    found += _entries(node.get("callbacks"), "hydra.callbacks")
    job = node.get("job")
    env_set = job.get("env_set") if isinstance(job, Mapping) else None
    found += _entries(env_set, "hydra.job.env_set")
    extra = [p for p in node.get("searchpath") or [] if p not in searchpath]
    if extra:
        found.append(("hydra.searchpath", extra))
    plugins = _plugin_classes()
    for group in ("launcher", "sweeper"):
        target = (node.get(group) or {}).get("_target_")
        if target is not None and target not in plugins:
            found.append((f"hydra.{group}._target_", target))
    for path, value in _walk(node, "hydra"):
        if path.endswith("._target_") and path not in (
            "hydra.launcher._target_",
            "hydra.sweeper._target_",
        ):
            found.append((path, value))
    for name in ("job_logging", "hydra_logging"):
        found += list(_logging_code(node.get(name), f"hydra.{name}"))
    problems = [_hydra_problem(path, value, file=file, line=None) for path, value in found]
    return problems + _launcher_address(node.get("launcher"), file)


def _launcher_address(launcher: Any, file: str | None) -> list[Problem]:
    """The multirun launcher's scheduler, set literally by an override (it normally follows
    ``cluster.address``, checked with the recipe): only one the operator allows."""
    from engine.security.schedulers import ALLOW_ENV, refusal

    address = launcher.get("address") if isinstance(launcher, Mapping) else None
    if not isinstance(address, str) or "${" in address:
        return []
    refused = refusal(address)
    if refused is None:
        return []
    message, fix = refused
    return [
        Problem(
            key_path="hydra.launcher.address",
            message=message,
            expected=f"loopback, or an address allowed by ${ALLOW_ENV}",
            got=repr(address),
            hint=fix,
            file=file,
        )
    ]


def check_before_multirun(hydra: Any, path: Path, overrides: Sequence[str]) -> None:
    """Compose the multirun's config the way ``Hydra.multirun`` will, and refuse it (one
    RecipeError) if its ``hydra`` node would run code: called before the callbacks, the
    sweeper and the launcher are instantiated."""
    from hydra.types import RunMode

    from engine.errors import RecipeError
    from engine.recipe.searchpath import sous_searchpath

    cfg = hydra.compose_config(
        config_name=path.stem,
        overrides=list(overrides),
        with_log_configuration=False,
        run_mode=RunMode.MULTIRUN,
    )
    problems = hydra_node_problems(cfg.get("hydra"), sous_searchpath(), str(path))
    if problems:
        raise RecipeError(problems, recipe=str(path))


def _entries(value: Any, path: str) -> list[tuple[str, Any]]:
    """(key path, value) of each entry of a mapping or list Hydra would act on."""
    if isinstance(value, Mapping):
        return [(join(path, str(k)), v) for k, v in value.items()]
    if isinstance(value, list):
        return [(join(path, i), v) for i, v in enumerate(value)]
    return [] if value is None or value == "" else [(path, value)]


def _hydra_problem(path: str, value: Any, *, file: str | None, line: int | None) -> Problem:
    return Problem(
        key_path=path,
        message="recipes and overrides may not set Hydra keys that run code or read files "
        "(callbacks, searchpath, job.env_set, logging configs, _target_)",
        expected="none of " + ", ".join(f"hydra.{k}" for k in FORBIDDEN_HYDRA),
        got=describe(value),
        hint="remove it; the operator configures Hydra plugins by installing them",
        file=file,
        line=line,
    )


def _group_problem(
    path: str, group: str, option: Any, file: str | None, line: int | None
) -> Problem:
    return Problem(
        key_path=path,
        message=f"recipes and overrides may not select {group} (it configures code Hydra runs)",
        expected=f"{group} left alone, or one of Hydra's own: {', '.join(sorted(BUILTIN_LOGGING))}"
        if group in LOGGING_GROUPS
        else f"{group} left alone",
        got=repr(option),
        hint="remove it",
        file=file,
        line=line,
    )


def _group_refused(group: str, option: Any) -> bool:
    if group in REFUSED_GROUPS:
        return True
    return group in LOGGING_GROUPS and str(option) not in BUILTIN_LOGGING


def _is_forbidden(rest: str) -> bool:
    return any(rest == k or rest.startswith(k + ".") for k in FORBIDDEN_HYDRA)


def _forbidden_in(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Forbidden keys in a ``hydra:`` mapping as written (and every ``_target_`` in it)."""
    if not isinstance(value, Mapping):
        if value is not None:
            yield path, value
        return
    for k, v in value.items():
        sub = join(path, str(k))
        rest = sub[len("hydra.") :]
        if _is_forbidden(rest) or k == "_target_":
            yield sub, v
        else:
            yield from _forbidden_in_children(v, sub)


def _forbidden_in_children(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        yield from _forbidden_in(value, path)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _forbidden_in_children(v, join(path, i))


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every (key path, value) under ``value``."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            sub = join(path, str(k))
            yield sub, v
            yield from _walk(v, sub)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, join(path, i))


def _logging_code(config: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``()`` factories, handler/formatter classes and ``ext://`` objects outside the stdlib
    logging in a ``dictConfig`` mapping: each would be imported and called."""
    for sub, value in _walk(config, path):
        leaf = sub.rsplit(".", 1)[-1]
        text = str(value)
        factory = leaf == "()"
        foreign_class = leaf == "class" and not text.startswith(SAFE_LOGGING_MODULES)
        foreign_ext = text.startswith("ext://") and not text[6:].startswith(SAFE_LOGGING_MODULES)
        if factory or foreign_class or (isinstance(value, str) and foreign_ext):
            yield sub, value


def _plugin_classes() -> frozenset[str]:
    """Launcher and sweeper classes of the installed Hydra plugins."""
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher
    from hydra.plugins.sweeper import Sweeper

    found = [*Plugins.instance().discover(Launcher), *Plugins.instance().discover(Sweeper)]
    return frozenset(f"{c.__module__}.{c.__name__}" for c in found)
