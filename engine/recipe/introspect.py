"""Hydra's introspection flags for recipes: ``--cfg job|hydra|all`` (with ``--resolve`` and
``--package``) and ``--info``, plus the catalogue of recipes and config groups that
``--help`` and shell completion list. What Hydra users type, answered from the same
composition a run uses (so it shows exactly what would run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import RecipeError, UserError
from engine.recipe.locate import SUFFIXES, recipe_dirs
from engine.recipe.problems import did_you_mean
from engine.recipe.searchpath import builtin_conf_dir

CFG_CHOICES = ("job", "hydra", "all")


@dataclass(frozen=True)
class Catalog:
    """Recipes found (name -> file, the first on the lookup path wins) and config groups
    (group -> option names) on the search path."""

    recipes: dict[str, Path]
    groups: dict[str, tuple[str, ...]]
    search_path: tuple[Path, ...]


def catalog(recipe_dir: Path | None = None) -> Catalog:
    """Every recipe name under the lookup directories, and the config groups of the built-in
    search path (plus ``recipe_dir``'s own groups when given)."""
    recipes: dict[str, Path] = {}
    for d in recipe_dirs():
        if d.is_dir():
            for p in sorted(d.iterdir()):
                if p.suffix in SUFFIXES and p.is_file():
                    recipes.setdefault(p.stem, p)
    search = ((recipe_dir,) if recipe_dir else ()) + (builtin_conf_dir(),)
    groups: dict[str, set[str]] = {}
    for d in search:
        for sub in sorted(d.iterdir()) if d.is_dir() else ():
            names = {p.stem for p in sub.glob("*.y*ml")} if sub.is_dir() else set()
            if names:
                groups.setdefault(sub.name, set()).update(names)
    return Catalog(recipes, {g: tuple(sorted(o)) for g, o in sorted(groups.items())}, search)


def config_yaml(
    recipe: str,
    overrides: Sequence[str] = (),
    *,
    which: str = "job",
    resolve: bool = False,
    package: str | None = None,
) -> str:
    """The composed config as Hydra's ``--cfg`` prints it. Resolved secrets are redacted."""
    from omegaconf import OmegaConf

    from engine.recipe.composer import _CompositionFailed, _hydra_compose, _prepare_for, compose
    from engine.security.redact import redact_config

    path, prepared, searchpath = _prepare_for(recipe, overrides)
    if prepared.problems:
        raise RecipeError(prepared.problems, recipe=str(path))
    try:
        cfg = _hydra_compose(path, [*prepared.hydra.values(), searchpath], keep_hydra=True)
    except _CompositionFailed:
        compose(recipe, overrides)  # raises the RecipeError a run would, every problem listed
        raise
    parts = [k for k in cfg if which == "all" or (k == "hydra") == (which == "hydra")]
    whole: Any = OmegaConf.to_container(cfg, resolve=False)
    raw = {k: whole[k] for k in parts}
    plain = _resolved(cfg, parts) if resolve else raw
    node: Any = OmegaConf.create(redact_config(plain, raw))
    if package:
        node = _select(node, package)
    header = f"# @package {package}\n" if package else ""
    if OmegaConf.is_config(node):
        return header + OmegaConf.to_yaml(node)
    return header + f"{node}\n"


def _resolved(cfg: Any, parts: Sequence[str]) -> dict[str, Any]:
    """The ``parts`` of ``cfg`` with interpolations resolved (Hydra's resolvers need the
    hydra node as the current HydraConfig). A value known only once a job runs (Hydra's
    ``${hydra.job.num}``) stays as written, as it would in a single run's config."""
    from hydra.core.hydra_config import HydraConfig

    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    try:
        hydra_config.set_config(cfg)
        return {k: _resolve_node(cfg, k) for k in parts}
    finally:
        hydra_config.cfg = previous


def _resolve_node(parent: Any, key: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    node = parent._get_node(key)
    if isinstance(node, DictConfig):
        return None if node._is_none() else {k: _resolve_node(node, k) for k in node}
    if isinstance(node, ListConfig):
        return None if node._is_none() else [_resolve_node(node, i) for i in range(len(node))]
    try:
        value: Any = OmegaConf.to_container(OmegaConf.create({"v": parent[key]}))
        return value["v"]
    except OmegaConfBaseException:
        return node._value()


def _select(node: Any, package: str) -> Any:
    from omegaconf import OmegaConf

    found = OmegaConf.select(node, package, default=_ABSENT)
    if found is _ABSENT:
        parent, _, leaf = package.rpartition(".")
        above = OmegaConf.select(node, parent) if parent else node
        names = [str(n) for n in above] if OmegaConf.is_dict(above) else []
        raise UserError(
            f"the config has no package {package!r}",
            key_path="--package",
            hint=did_you_mean(leaf, names) or f"keys there: {', '.join(names) or 'none'}",
        )
    return found


_ABSENT = object()


def info_text(recipe: str | None, overrides: Sequence[str] = ()) -> str:
    """Hydra's ``--info`` for Sous: search path, recipes found, config groups and their
    options, and (with a recipe) its defaults tree."""
    from engine.recipe.locate import find_recipe

    path = find_recipe(recipe) if recipe else None
    cat = catalog(path.parent if path else None)
    lines = ["Search path (Hydra's config search path, in order):"]
    if path:
        lines.append(f"  {path.parent}  (the recipe's directory: primary config)")
    lines.append(f"  file://{builtin_conf_dir()}  (Sous's built-in config groups)")
    lines.append("")
    lines.append("Recipes found (./recipes, $SOUS_RECIPES, then Sous's own):")
    for d in recipe_dirs():
        names = [n for n, p in cat.recipes.items() if p.parent == d]
        if names:
            lines.append(f"  {d}: {', '.join(names)}")
    lines.append("")
    lines.append("Config groups (select one with GROUP=OPTION):")
    width = max((len(g) for g in cat.groups), default=0)
    for g, options in cat.groups.items():
        lines.append(f"  {g:<{width}}  {', '.join(options)}")
    if path and recipe:
        lines.append("")
        lines.append(f"Defaults tree of {path.stem} ({path}):")
        lines += _defaults_tree(recipe, overrides)
    return "\n".join(lines) + "\n"


def _defaults_tree(recipe: str, overrides: Sequence[str]) -> list[str]:
    """The recipe's defaults list after the overrides, as Hydra computes it."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from engine.recipe.composer import _fresh_global_hydra, _prepare_for

    path, prepared, searchpath = _prepare_for(recipe, overrides)
    if prepared.problems:
        raise RecipeError(prepared.problems, recipe=str(path))
    with (
        _fresh_global_hydra(),
        initialize_config_dir(config_dir=str(path.parent), job_name="sous", version_base="1.3"),
    ):
        loader = GlobalHydra.instance().config_loader()
        found = loader.compute_defaults_list(
            config_name=path.stem,
            overrides=[*prepared.hydra.values(), searchpath],
            run_mode=RunMode.RUN,
        )
    lines = []
    for d in found.defaults:
        if d.config_path is None or (d.package or "").startswith("hydra") or d.parent is None:
            continue
        if d.parent.startswith("hydra"):
            continue
        if d.primary:
            lines.append(f"  {d.config_path}")
            continue
        at = f" @{d.package}" if d.package and d.package != d.config_path.split("/")[0] else ""
        lines.append(f"    {d.config_path}{at}")
    self_at = next((i for i, line in enumerate(lines) if not line.startswith("    ")), None)
    if self_at is not None:  # the primary config first, its defaults under it, _self_ last
        primary = lines.pop(self_at)
        lines = [primary, *lines, "    _self_"]
    return lines


def override_candidates(recipe: str, current: str) -> list[str]:
    """Overrides that complete ``current`` for RECIPE: ``group=option``, ``section.key=``
    for every recipe section, ``models.NAME.PARAM=`` for the recipe's models."""
    from engine.recipe import keys
    from engine.recipe.locate import find_recipe
    from engine.recipe.yamlfile import read_recipe_file

    try:
        path = find_recipe(recipe)
        data = read_recipe_file(path).data
    except UserError:
        return []
    groups = catalog(path.parent).groups
    key, eq, _ = current.partition("=")
    sign = key[: len(key) - len(key.lstrip("+~"))]
    bare = key[len(sign) :]
    models = data.get("models") if isinstance(data, dict) else None
    model_names = sorted(models) if isinstance(models, dict) else []
    if eq:
        options = list(groups.get(bare, ()))
        if bare == "model":
            options = sorted({*options, *model_names})
        return [f"{key}={o}" for o in options]
    out = [f"{sign}{g}=" for g in groups]
    simple = ("name", "task", "target", "seed")
    out += [f"{sign}{k}=" for k in simple]
    for section, names in sorted(keys.SECTIONS.items()):
        if section and section != "security":
            out += [f"{sign}{section}.{k}=" for k in sorted(names)]
    for name in model_names:
        params = models[name] if isinstance(models, dict) else None
        written = sorted(params) if isinstance(params, dict) else []
        out += [f"{sign}models.{name}.{p}=" for p in written if p != "_target_"]
    return out
