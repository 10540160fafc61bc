"""Compositions remembered: the same config as Hydra composes, reused only while every file
and setting that decides it is unchanged, and only if Sous sealed it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from engine.recipe import compose_memo
from engine.recipe.composer import Composed, compose_collecting

RECIPE = """defaults:
  - split: random
  - _self_
name: r
task: classification
target: y
data: {sources: {t: {kind: csv, path: data.csv}}}
models: {lr: {_target_: sklearn.linear_model.LogisticRegression}}
"""


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    (tmp_path / "data.csv").write_text("a,y\n1,0\n2,1\n")
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    return path


def _yaml(result: Composed) -> str:
    assert result.cfg is not None and not result.problems
    return OmegaConf.to_yaml(result.cfg)


def test_a_remembered_composition_is_hydras(recipe: Path) -> None:
    overrides = ["split.test_size=0.3"]
    first = compose_memo.composed(str(recipe), overrides)
    again = compose_memo.composed(str(recipe), overrides)
    assert list((recipe.parent / "home" / "composed").glob("*.json"))
    assert _yaml(again) == _yaml(first) == _yaml(compose_collecting(str(recipe), overrides))
    assert OmegaConf.is_struct(again.cfg) == OmegaConf.is_struct(first.cfg)
    assert "test_size: 0.3" in _yaml(compose_memo.composed(str(recipe), overrides))
    assert "test_size: 0.3" not in _yaml(compose_memo.composed(str(recipe), []))


def test_an_edited_config_group_next_to_the_recipe_is_a_miss(recipe: Path) -> None:
    """A group file in the recipe's directory, edited to the same size with its mtime put
    back (`touch -r`): composed again."""
    group = recipe.parent / "split" / "mine.yaml"
    group.parent.mkdir()
    group.write_text("kind: random\ntest_size: 0.25\n")
    recipe.write_text(RECIPE.replace("split: random", "split: mine"))
    assert "test_size: 0.25" in _yaml(compose_memo.composed(str(recipe), []))
    before = group.stat()
    group.write_text("kind: random\ntest_size: 0.35\n")
    os.utime(group, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert "test_size: 0.35" in _yaml(compose_memo.composed(str(recipe), []))


def test_a_changed_allowlist_is_a_miss(recipe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = compose_memo._key(recipe, [])
    monkeypatch.setenv("SOUS_ALLOW_TARGETS", "mypkg.")
    second, _ = compose_memo._key(recipe, [])
    assert first != second


def test_an_entry_not_sealed_by_sous_is_never_used(recipe: Path) -> None:
    """A planted composition could name code to run: without the HMAC it is ignored."""
    compose_memo.composed(str(recipe), [])
    (entry,) = (recipe.parent / "home" / "composed").glob("*.json")
    _, _, payload = entry.read_bytes().partition(b"\n")
    entry.write_bytes(payload.replace(b"LogisticRegression", b"LinearSVC"))
    assert "LogisticRegression" in _yaml(compose_memo.composed(str(recipe), []))


PROBE = """
import sys
from engine.recipe import load_recipe
spec = load_recipe("iris", ["split.test_size=0.3"], reuse_validation=True)
print(spec.split.test_size, "hydra" in sys.modules or "engine.recipe.composer" in sys.modules)
"""


def test_a_warm_load_does_not_import_hydra(tmp_path: Path) -> None:
    env = {"SOUS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def load() -> str:
        out = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip().splitlines()[-1]

    assert load() == "0.3 True"
    assert load() == "0.3 False"
