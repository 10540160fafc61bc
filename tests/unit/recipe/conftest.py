"""Fixtures for the recipe layer: a private SOUS_HOME and recipe files written on the fly."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

BAD_RECIPES = Path(__file__).parent / "bad_recipes"

MINIMAL = """
name: minimal
task: classification
target: target
data:
  sources:
    iris: {kind: sklearn, name: iris}
models:
  rf: {_target_: sklearn.ensemble.RandomForestClassifier, n_estimators: 10}
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the repository's state, and never inherit the caller's allowlist."""
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "sous_home"))
    monkeypatch.delenv("SOUS_ALLOW_TARGETS", raising=False)
    monkeypatch.delenv("SOUS_RECIPES", raising=False)


@pytest.fixture
def minimal() -> str:
    """A smallest valid recipe (iris, one small forest)."""
    return MINIMAL


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text (dedented) to tmp_path/NAME.yaml and return the path."""

    def write(text: str, name: str = "recipe") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write
