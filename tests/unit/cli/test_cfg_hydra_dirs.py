"""`--cfg hydra` tells the truth about output folders: hydra.run.dir is the folder a Sous run
writes ($SOUS_HOME/runs/RUN_ID), hydra.sweep.dir the one a multirun's jobs write (Sous's
default, or the user's), not Hydra's outputs/ and multirun/ defaults that Sous never uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine import multirun
from engine.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_cfg_hydra_shows_the_folders_sous_writes(home: Path, capsys) -> None:
    assert main(["run", "iris", "--cfg", "hydra"]) == 0
    out = capsys.readouterr().out
    hydra = yaml.safe_load(out)["hydra"]
    assert hydra["run"]["dir"] == str(home / "runs" / "RUN_ID")
    assert hydra["sweep"]["dir"] == str(home / "multirun" / "mr-RUN_ID")
    assert hydra["sweep"]["subdir"] == "${hydra.job.num}"
    assert "outputs/" not in out and "# Sous: a run writes to $SOUS_HOME/runs/RUN_ID" in out
    assert "launcher" in hydra and "job" in hydra  # the rest of Hydra's node is kept
    assert not home.exists()  # printing creates no home


def test_cfg_all_resolve_and_packages(home: Path, capsys) -> None:
    assert main(["plan", "iris", "--cfg", "all", "--resolve"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["hydra"]["run"]["dir"] == str(home / "runs" / "RUN_ID")
    assert cfg["name"] == "iris"
    assert main(["run", "iris", "--cfg", "hydra", "--package", "hydra.run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# @package hydra.run\n")
    assert yaml.safe_load(out) == {"dir": str(home / "runs" / "RUN_ID")}
    assert main(["run", "iris", "--cfg", "hydra", "-p", "hydra.sweep.dir"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == str(home / "multirun" / "mr-RUN_ID")
    assert main(["run", "iris", "--cfg", "all", "-p", "split"]) == 0
    out = capsys.readouterr().out
    assert "# Sous" not in out and yaml.safe_load(out)["kind"] == "stratified"


def test_a_users_sweep_dir_is_shown_as_given(home: Path, tmp_path: Path, capsys) -> None:
    mine = tmp_path / "sweeps"
    assert main(["run", "iris", "--cfg", "hydra", f"hydra.sweep.dir={mine}"]) == 0
    hydra = yaml.safe_load(capsys.readouterr().out)["hydra"]
    assert hydra["sweep"]["dir"] == str(mine)
    assert hydra["run"]["dir"] == str(home / "runs" / "RUN_ID")


def test_the_shown_sweep_dir_is_the_one_a_multirun_uses(home: Path) -> None:
    """One source: output_dirs reads the defaults multirun() passes to Hydra."""
    group_dir = home / "multirun" / "mr-RUN_ID"
    defaults = dict(o.split("=", 1) for o in multirun._defaults([], group_dir))
    shown = multirun.output_dirs([])
    assert shown["hydra.sweep.dir"] == defaults["hydra.sweep.dir"]
    assert shown["hydra.sweep.subdir"] == defaults["hydra.sweep.subdir"]


def test_hydra_run_dir_stays_refused_with_the_reason(home: Path, capsys) -> None:
    assert main(["run", "iris", "--cfg", "hydra", "hydra.run.dir=/tmp/elsewhere"]) == 2
    assert "$SOUS_HOME/runs/RUN_ID" in capsys.readouterr().err
