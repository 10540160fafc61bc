"""Importing the recipe layer must stay cheap: `sous --help` imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

CODE = """
import sys
import engine.recipe
heavy = [m for m in ("hydra", "omegaconf", "sklearn", "pandas", "torch", "yaml") if m in sys.modules]
print(",".join(heavy))
"""


def test_import_engine_recipe_loads_no_heavy_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CODE],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def test_loading_a_recipe_does_import_them() -> None:
    """The check above can fail: the same probe sees hydra once a recipe is composed."""
    code = CODE.replace(
        "import engine.recipe", "import engine.recipe\nengine.recipe.compose('iris')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "hydra" in out.stdout and "omegaconf" in out.stdout
