"""The generated docs equal what the code generates, and the recipe schema fits the recipes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.recipe import keys
from engine.recipe.reference import render
from engine.recipe.schema import recipe_schema

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
FIX = "run `python scripts/gen_docs.py` and commit docs/"


def test_committed_schema_equals_generated() -> None:
    committed = json.loads((DOCS / "recipe.schema.json").read_text(encoding="utf-8"))
    assert committed == recipe_schema(), FIX


def test_committed_reference_equals_generated() -> None:
    assert (DOCS / "reference.md").read_text(encoding="utf-8") == render(), FIX


def test_schema_is_valid_and_covers_every_top_level_key() -> None:
    schema = recipe_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == {"defaults", *keys.TOP_LEVEL}


@pytest.mark.parametrize("section", sorted(s for s in keys.SECTIONS if s))
def test_schema_section_keys_are_the_validators(section: str) -> None:
    node = recipe_schema()
    for part in section.split("."):
        node = node["properties"][part]
    assert set(node["properties"]) == set(keys.SECTIONS[section])


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_validates_against_the_schema(path: Path) -> None:
    recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.validate(recipe, recipe_schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    ("recipe", "where"),
    [
        pytest.param({"split": {"kind": "stratifed"}}, ["split", "kind"], id="bad-enum"),
        pytest.param({"split": {"test": 0.2}}, ["split"], id="unknown-key"),
        pytest.param({"seed": "seven"}, ["seed"], id="wrong-type"),
        pytest.param({"data": {"sources": {"a": {"path": "x.csv"}}}}, ["data", "sources", "a"],
                     id="source-without-kind"),
    ],
)  # fmt: skip
def test_schema_catches_what_an_editor_should_flag(recipe: dict, where: list[str]) -> None:
    errors = list(jsonschema.Draft202012Validator(recipe_schema()).iter_errors(recipe))
    assert [list(e.absolute_path) for e in errors] == [where]


def test_reference_names_every_section_and_allowed_value() -> None:
    page = render()
    for section in keys.SECTIONS:
        if section:
            assert f"## `{section}`" in page
    for value in (*keys.SCALE, *keys.SPLIT_KINDS, *keys.ENCODE, "min_frequency"):
        assert f"`{value}`" in page
