"""docs/recipes.md is the recipe reference: it must name every key the validator accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.recipe import builtin_conf_dir, keys
from engine.recipe.composer import group_options

DOC = (Path(__file__).resolve().parents[3] / "docs" / "recipes.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("section", sorted(keys.SECTIONS))
def test_every_key_of_a_section_is_documented(section: str) -> None:
    missing = [
        k for k in sorted(keys.SECTIONS[section]) if not re.search(rf"`([\w.]*\.)?{k}\b", DOC)
    ]
    assert not missing, f"docs/recipes.md does not document {section or 'top-level'} keys {missing}"


def test_every_builtin_group_option_is_documented() -> None:
    for group, options in group_options([builtin_conf_dir()]).items():
        for option in options:
            assert f"`{option}`" in DOC, f"{group}/{option} is not in docs/recipes.md"
