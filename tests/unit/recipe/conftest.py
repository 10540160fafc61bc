"""Fixtures for the recipe layer: a private SOUS_HOME and recipe files written on the fly."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
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


CANARY_PKG = '''
"""A package outside the default allowlist; every callable in it leaves a marker file."""
from sklearn.base import BaseEstimator, ClassifierMixin

MARKER = {marker!r}


def touch(*args, **kwargs):
    open(MARKER, "w").close()
    return 0


class Estimator(ClassifierMixin, BaseEstimator):
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, y):
        touch()
        return self


class NotAnEstimator:
    def __init__(self, *args, **kwargs):
        touch()
'''


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``sous_canary`` on sys.path: ``touch`` (a function), ``Estimator``, ``NotAnEstimator``
    and ``_private.Estimator``; anything called leaves the returned marker file, and
    importing ``sous_canary_import`` leaves it too."""
    marker = tmp_path / "canary-was-called"
    root = tmp_path / "canary_site"
    pkg = root / "sous_canary"
    (pkg / "_private").mkdir(parents=True)
    (pkg / "__init__.py").write_text(CANARY_PKG.format(marker=str(marker)), encoding="utf-8")
    (pkg / "_private" / "__init__.py").write_text(
        "from sous_canary import Estimator as Base, touch\n\n\nclass Estimator(Base):\n    pass\n",
        encoding="utf-8",
    )
    evil = root / "sous_canary_import"
    evil.mkdir()
    (evil / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Model: pass\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(root))
    yield marker
    for name in [m for m in sys.modules if m.startswith("sous_canary")]:
        del sys.modules[name]
