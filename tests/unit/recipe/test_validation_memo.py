"""An unchanged recipe that validated before is not validated again by `sous run`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.recipe import load_recipe

PROBE = """
import sys
from engine.recipe import load_recipe
spec = load_recipe("iris", ["models.rf.n_estimators=11"], reuse_validation=True)
print("IMPORTED=" + str("sklearn.ensemble" in sys.modules), spec.models[1].params["n_estimators"])
"""


def _env(home: Path) -> dict[str, str]:
    """A bare environment, with this test's own (empty) per-user cache: the estimator
    checks' memo (engine.recipe.estimator_memo) would skip the first import too."""
    user_cache = os.environ["SOUS_USER_CACHE"]
    return {"SOUS_HOME": str(home), "PATH": "/usr/bin:/bin", "SOUS_USER_CACHE": user_cache}


def probe(home: Path) -> str:
    env = _env(home)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def test_second_load_reuses_the_validated_spec(tmp_path: Path) -> None:
    assert probe(tmp_path) == "IMPORTED=True 11"  # first: full validation imports the estimator
    assert probe(tmp_path) == "IMPORTED=False 11"  # then: the validated spec, no estimator import


def test_reuse_returns_an_equal_spec_and_changes_invalidate(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    recipe = tmp_path / "r.yaml"
    recipe.write_text((Path(__file__).parents[3] / "recipes" / "iris.yaml").read_text())
    first = load_recipe(str(recipe), reuse_validation=True)
    assert load_recipe(str(recipe), reuse_validation=True) == first
    recipe.write_text(recipe.read_text().replace("n_estimators: 50", "n_estimators: 0"))
    import pytest

    from engine.errors import RecipeError

    with pytest.raises(RecipeError) as err:
        load_recipe(str(recipe), reuse_validation=True)
    assert "models.rf.n_estimators" in err.value.key_paths


VALIDATE = """
import sys
from engine.cli import main
code = main(["validate", "iris"])
heavy = ("sklearn", "pandas", "numpy", "dask", "distributed", "torch", "bentoml", "sqlalchemy")
print(code, "HEAVY=" + ",".join(m for m in heavy if m in sys.modules))
"""


def test_sous_validate_reuses_the_memo_and_imports_nothing_heavy(tmp_path: Path) -> None:
    """`sous validate` of a recipe that validated before: no estimator, no data library."""
    env = _env(tmp_path)

    def validate() -> str:
        out = subprocess.run(
            [sys.executable, "-c", VALIDATE], env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip().splitlines()[-1]

    assert "sklearn" in validate()  # first: in full, the estimators imported
    assert validate() == "0 HEAVY="  # then: the remembered spec


def test_a_source_removed_since_the_memo_is_reported(tmp_path: Path, monkeypatch) -> None:
    import pytest

    from engine.errors import RecipeError

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    data = tmp_path / "data.csv"
    data.write_text("a,y\n1,0\n2,1\n3,0\n4,1\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\ntask: classification\ntarget: y\n"
        "data: {sources: {t: {kind: csv, path: data.csv}}}\n"
        "models: {lr: {_target_: sklearn.linear_model.LogisticRegression}}\n"
    )
    assert load_recipe(str(recipe), reuse_validation=True).name == "r"
    data.unlink()
    with pytest.raises(RecipeError) as err:
        load_recipe(str(recipe), reuse_validation=True)
    assert "no such file" in str(err.value)
