"""Hydra's conventions on every recipe command: --cfg job|hydra|all, --resolve, --package,
--info, and --help listing the config groups and the recipes found."""

from __future__ import annotations

import pytest
import yaml

from engine.cli import main


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("command", ["run", "validate", "plan"])
def test_cfg_job_prints_the_composed_recipe_and_runs_nothing(command, capsys) -> None:
    assert main([command, "iris", "--cfg", "job", "split=random", "cv.folds=4"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["split"]["kind"] == "random" and cfg["cv"]["folds"] == 4
    assert "hydra" not in cfg and cfg["name"] == "iris"


def test_cfg_hydra_and_all(capsys) -> None:
    assert main(["plan", "iris", "--cfg", "hydra"]) == 0
    assert list(yaml.safe_load(capsys.readouterr().out)) == ["hydra"]
    assert main(["plan", "iris", "--cfg", "all"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert "hydra" in cfg and "models" in cfg


def test_package_and_resolve(tmp_path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "defaults:\n  - /source@data.sources.iris: iris\n  - _self_\n"
        "name: r\ntask: classification\ntarget: target\nseed: 3\n"
        "split: {kind: stratified, test_size: 0.2}\n"
        "sweep: {seed: '${seed}'}\n"
        "models: {lr: {_target_: sklearn.linear_model.LogisticRegression}}\n"
        "select: {metric: f1}\n"
    )
    assert main(["validate", str(recipe), "--cfg", "job", "--package", "sweep"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# @package sweep\n") and "${seed}" in out
    assert main(["validate", str(recipe), "-c", "job", "-p", "sweep", "--resolve"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == {"seed": 3}


def test_an_unknown_package_names_the_keys_there(capsys) -> None:
    assert main(["plan", "iris", "--cfg", "job", "--package", "splt"]) == 2
    assert "did you mean 'split'" in capsys.readouterr().err


def test_resolve_without_cfg_is_a_user_error(capsys) -> None:
    assert main(["plan", "iris", "--resolve"]) == 2
    assert "go with --cfg" in capsys.readouterr().err


def test_resolved_secrets_are_redacted(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("H6_DB_PASSWORD", "hunter2-very-secret")
    recipe = tmp_path / "s.yaml"
    recipe.write_text(
        "name: s\ntask: classification\ntarget: y\n"
        "data: {sources: {t: {kind: sql, url: 'postgresql://u:${oc.env:H6_DB_PASSWORD}@h/db',"
        " query: 'select 1'}}}\n"
        "models: {lr: {_target_: sklearn.linear_model.LogisticRegression}}\n"
    )
    assert main(["validate", str(recipe), "--cfg", "job", "--resolve"]) == 0
    out = capsys.readouterr().out
    assert "hunter2-very-secret" not in out and "postgresql://u:" in out


def test_info_lists_search_path_recipes_groups_and_the_defaults_tree(capsys) -> None:
    assert main(["run", "iris", "--info", "split=random"]) == 0
    out = capsys.readouterr().out
    for heading in ("Search path", "Recipes found", "Config groups", "Defaults tree of iris"):
        assert heading in out
    assert "split    group, random, stratified, time" in out
    assert "    split/random" in out and "    source/iris @data.sources.iris" in out


def test_info_without_a_recipe(capsys) -> None:
    assert main(["run", "--info"]) == 0
    out = capsys.readouterr().out
    assert "iris" in out and "Defaults tree" not in out


@pytest.mark.parametrize("command", ["run", "validate", "plan"])
def test_help_lists_config_groups_and_recipes(command, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "config groups" in out and "split: group, random, stratified, time" in out
    assert "recipes found:" in out and "iris" in out and "--cfg" in out
