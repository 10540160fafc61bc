"""find_recipe: names under recipes directories, paths from anywhere, helpful not-found."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import RecipeNotFound
from engine.recipe import find_recipe
from engine.recipe.locate import repo_recipes_dir


def test_name_finds_the_repo_recipe_from_another_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_recipe("iris") == repo_recipes_dir() / "iris.yaml"


def test_path_is_found_from_another_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimal: str
) -> None:
    recipe = tmp_path / "elsewhere" / "mine.yml"
    recipe.parent.mkdir()
    recipe.write_text(minimal)
    monkeypatch.chdir(tmp_path)
    assert find_recipe("elsewhere/mine.yml") == recipe.resolve()
    assert find_recipe(str(recipe)) == recipe.resolve()


@pytest.mark.parametrize(
    "where",
    [pytest.param("cwd", id="cwd-recipes-dir"), pytest.param("env", id="SOUS_RECIPES")],
)
def test_name_lookup_order_prefers_local_dirs(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimal: str
) -> None:
    """A local iris.yaml shadows the repo's one: users can customise a shipped recipe."""
    local = tmp_path / "recipes" if where == "cwd" else tmp_path / "mine"
    local.mkdir()
    (local / "iris.yaml").write_text(minimal)
    monkeypatch.chdir(tmp_path)
    if where == "env":
        monkeypatch.setenv("SOUS_RECIPES", f"/does/not/exist:{local}")
    assert find_recipe("iris") == (local / "iris.yaml").resolve()


def test_unknown_name_lists_where_it_looked_and_suggests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeNotFound) as info:
        find_recipe("irsi")
    message = str(info.value)
    assert str(repo_recipes_dir()) in message
    assert str(tmp_path / "recipes") in message
    assert "did you mean 'iris'" in (info.value.hint or "")
    assert info.value.user_error and info.value.exit_code == 2


def test_missing_path_suggests_a_sibling(tmp_path: Path, minimal: str) -> None:
    (tmp_path / "churn.yaml").write_text(minimal)
    with pytest.raises(RecipeNotFound) as info:
        find_recipe(str(tmp_path / "chrun.yaml"))
    assert "churn.yaml" in (info.value.hint or "")


def test_bare_file_name_falls_back_to_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_recipe("iris.yaml") == repo_recipes_dir() / "iris.yaml"
    with pytest.raises(RecipeNotFound):
        find_recipe("nonexistent.yaml")
