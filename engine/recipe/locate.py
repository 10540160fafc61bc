"""Finding a recipe from what the user typed: a path, or a name under a recipes directory."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import RecipeNotFound
from engine.recipe.problems import did_you_mean

SUFFIXES = (".yaml", ".yml")


def repo_recipes_dir() -> Path:
    """The ``recipes/`` directory shipped next to the ``engine`` package."""
    import engine

    return Path(engine.__file__).resolve().parent.parent / "recipes"


def recipe_dirs() -> list[Path]:
    """Where names are looked up, in order: ./recipes, $SOUS_RECIPES, the repo's recipes/."""
    dirs = [Path.cwd() / "recipes"]
    dirs += [Path(d) for d in os.environ.get("SOUS_RECIPES", "").split(os.pathsep) if d]
    dirs.append(repo_recipes_dir())
    unique: list[Path] = []
    for d in dirs:
        d = d.expanduser().resolve()
        if d not in unique:
            unique.append(d)
    return unique


def find_recipe(recipe: str) -> Path:
    """The absolute path of RECIPE: a ``.yaml``/``.yml`` path, or NAME found as NAME.yaml."""
    candidate = Path(recipe).expanduser()
    has_dir = os.sep in recipe or "/" in recipe
    if candidate.suffix in SUFFIXES or has_dir:
        if candidate.is_file():
            return candidate.resolve()
        if not has_dir:  # `sous run iris.yaml` from elsewhere: look the name up
            return find_recipe(candidate.stem)
        raise RecipeNotFound(
            f"recipe file {recipe!r} does not exist",
            key_path=recipe,
            hint=_path_hint(candidate),
        )
    dirs = recipe_dirs()
    for d in dirs:
        for suffix in SUFFIXES:
            path = d / f"{recipe}{suffix}"
            if path.is_file():
                return path.resolve()
    names = sorted(
        {p.stem for d in dirs if d.is_dir() for p in d.iterdir() if p.suffix in SUFFIXES}
    )
    looked = ", ".join(str(d) for d in dirs)
    hint = did_you_mean(recipe, names) or (
        f"available recipes: {', '.join(names)}" if names else "no recipes found there"
    )
    raise RecipeNotFound(
        f"no recipe named {recipe!r} (looked for {recipe}.yaml in: {looked})",
        key_path=recipe,
        hint=f"{hint}; or pass a path to a .yaml file, or add a directory to $SOUS_RECIPES",
    )


def _path_hint(path: Path) -> str:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"directory {str(parent)!r} does not exist either"
    siblings = [p.name for p in parent.iterdir() if p.suffix in SUFFIXES]
    return did_you_mean(path.name, siblings) or "check the path (relative to the current directory)"
