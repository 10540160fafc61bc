"""``sous init``: a project skeleton a new user can run at once: a recipe (on scikit-learn's
bundled iris data, so ``sous run NAME`` works before any data is in place), the recipe JSON
Schema beside it for editors (a ``yaml-language-server`` modeline points at it), and a
``.gitignore`` that keeps Sous's state (``.sous/``) and build outputs out of git."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError

SCHEMA_FILE = "recipe.schema.json"
IGNORED = (".sous/", "build/")

RECIPE = """# yaml-language-server: $schema={schema}
# {name}: a classification recipe to start from (docs: recipes.md, training.md).
#   sous validate {name}          check it
#   sous plan {name}              the steps, and which are cached
#   sous run {name}               train, select, package (a Bento), promote to staging
# Your own data: replace the source, e.g.
#   data: {{sources: {{main: {{kind: csv, path: data/train.csv}}}}}}
defaults:
  - /source@data.sources.iris: iris
  - /split: stratified
  - /cluster: local
  - /deploy: bento
  - _self_

name: {name}
task: classification
target: target
seed: 0

preprocess:
  numeric: {{impute: median, scale: standard}}

models:
  logreg:
    _target_: sklearn.linear_model.LogisticRegression
    max_iter: 500
    search: {{C: {{loguniform: [0.01, 10.0], num: 4}}}}
  rf:
    _target_: sklearn.ensemble.RandomForestClassifier
    n_estimators: 50
    n_jobs: 1

select:
  metric: f1
  gates: {{f1: ">= 0.80"}}
"""


@dataclass(frozen=True)
class Scaffold:
    """What ``sous init`` wrote (and what it left as it was)."""

    root: Path
    recipe: Path
    schema: Path
    gitignore: Path
    kept: tuple[Path, ...]


def init_project(directory: Path, name: str) -> Scaffold:
    """Write the skeleton under ``directory``; an existing recipe of that name is refused,
    an existing ``.gitignore`` gets the missing lines only."""
    from engine.recipe.schema import recipe_schema

    if not re.fullmatch(r"[A-Za-z][\w-]*", name):
        raise UserError(
            f"recipe name {name!r} is not a plain name",
            key_path="--name",
            hint="letters, digits, - and _, starting with a letter (e.g. --name churn)",
        )
    root = directory.expanduser().resolve()
    recipes = root / "recipes"
    recipe = recipes / f"{name}.yaml"
    if recipe.exists():
        raise UserError(
            f"{recipe} already exists: sous init writes a new project",
            key_path="DIR",
            hint=f"pick another name (--name) or directory; validate it: sous validate {recipe}",
        )
    recipes.mkdir(parents=True, exist_ok=True)
    schema = recipes / SCHEMA_FILE
    schema.write_text(json.dumps(recipe_schema(), indent=2) + "\n", encoding="utf-8")
    recipe.write_text(RECIPE.format(name=name, schema=SCHEMA_FILE), encoding="utf-8")
    gitignore = root / ".gitignore"
    have = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    missing = [line for line in IGNORED if line not in have]
    kept = () if missing or not have else (gitignore,)
    if missing:
        text = "\n".join([*have, "# Sous: state and build outputs", *missing]) + "\n"
        gitignore.write_text(text, encoding="utf-8")
    return Scaffold(root, recipe, schema, gitignore, kept)
