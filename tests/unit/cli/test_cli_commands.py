"""The CLI behind the API: other modules add subcommands with one call; every default is
written once (engine.specs), and the YAML and launcher configs agree with it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from engine import cli
from engine.specs import ClusterSpec

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def registry(monkeypatch) -> list:
    fresh: list = []
    monkeypatch.setattr(cli, "_REGISTERED", fresh)
    return fresh


def test_a_module_adds_a_subcommand_with_one_call(registry, capsys) -> None:
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--name", default="world")

    def hello(args: argparse.Namespace) -> int:
        print(f"hello {args.name}")
        return 3

    cli.register(cli.Command("hello", "say hello", configure, hello))
    assert cli.main(["hello", "--name", "sous"]) == 3
    assert capsys.readouterr().out == "hello sous\n"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "say hello" in capsys.readouterr().out


def test_a_built_in_command_cannot_be_replaced(registry) -> None:
    with pytest.raises(ValueError, match="built-in"):
        cli.register(cli.Command("run", "no", lambda p: None, lambda a: 0))


def test_the_cluster_defaults_are_written_once() -> None:
    from hydra_plugins.sous_dask_launcher.config import DaskLauncherConf

    local = yaml.safe_load((ROOT / "engine" / "conf" / "cluster" / "local.yaml").read_text())
    assert local["workers"] == ClusterSpec.workers
    assert DaskLauncherConf.n_workers == ClusterSpec.workers
    assert DaskLauncherConf.threads_per_worker == ClusterSpec.threads_per_worker


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [pytest.param("dot", "digraph", id="dot"), pytest.param("mermaid", "flowchart", id="mermaid")],
)
def test_plan_prints_the_dag_as_a_picture(
    fmt: str,
    marker: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from engine.cli import main

    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    assert main(["plan", "iris", "deploy=none", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith(marker)
    assert "load:iris" in out and "refit" in out
