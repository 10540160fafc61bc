"""`sous init` (a runnable project with the recipe's JSON Schema), `sous recipes ls`, and
`sous env` whose exports make the bentoml CLI see Sous's store, as printed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.cli import main


def test_init_writes_a_project_that_validates(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / ".sous"))
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    assert main(["init", "--name", "demo"]) == 0
    out = capsys.readouterr().out
    assert "next: sous validate demo && sous run demo" in out
    recipe = tmp_path / "recipes" / "demo.yaml"
    assert recipe.read_text().startswith("# yaml-language-server: $schema=recipe.schema.json")
    assert (tmp_path / ".gitignore").read_text().splitlines() == [
        "*.pyc",
        "# Sous: state and build outputs",
        ".sous/",
        "build/",
    ]
    assert main(["validate", "demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((tmp_path / "recipes" / "recipe.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(recipe.read_text()), schema)


def test_init_refuses_to_overwrite_a_recipe(tmp_path, capsys) -> None:
    assert main(["init", str(tmp_path), "--name", "demo"]) == 0
    capsys.readouterr()
    assert main(["init", str(tmp_path), "--name", "demo"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["init", str(tmp_path), "--name", "../evil"]) == 2


def test_recipes_ls_lists_names_and_files(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    main(["init", "--name", "mine"])
    capsys.readouterr()
    assert main(["recipes", "ls", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["mine"] == str(tmp_path / "recipes" / "mine.yaml")
    assert "iris" in found  # Sous's own
    assert main(["recipes"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("mine ")


def test_env_json(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "h"))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    assert main(["env", "--json"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert env["BENTOML_HOME"] == str(tmp_path / "h" / "bentoml")
    assert env["SOUS_DB_URL"] == f"sqlite:///{tmp_path / 'h' / 'runs.db'}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_printed_exports_work_as_written_for_bentoml(tmp_path: Path) -> None:
    bentoml = Path(sys.executable).parent / "bentoml"
    if not bentoml.exists():
        pytest.skip("the bentoml CLI is not installed")
    home = tmp_path / "home with space"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUS_", "BENTOML_"))}
    env["SOUS_HOME"] = str(home)
    code = (
        f'eval "$({sys.executable} -m engine env)"\n'
        'echo "HOME_IS=$BENTOML_HOME"\n'
        f"{bentoml} list -o json\n"
    )
    out = subprocess.run(
        ["bash", "-c", code], capture_output=True, text=True, env=env, check=True, cwd=tmp_path
    )
    assert f"HOME_IS={home / 'bentoml'}" in out.stdout
    assert (home / "bentoml").is_dir()  # bentoml made its store where Sous keeps it
