"""One way to add a subcommand: Command records, from the CLI's own modules, entry points or
``cli.register``; a record may extend a built-in with actions and options; options go
anywhere among a recipe command's overrides."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine import cli
from engine.command import Command


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> list[Command]:
    fresh: list[Command] = []
    monkeypatch.setattr(cli, "_REGISTERED", fresh)
    return fresh


def _say(word: str):
    def run(args: argparse.Namespace) -> int:
        print(f"{word} {getattr(args, 'action', None)} {getattr(args, 'loud', None)}")
        return 0

    return run


def test_a_module_defines_several_commands_and_extends_a_built_in(registry, capsys) -> None:
    def loud(p: argparse.ArgumentParser) -> None:
        p.add_argument("--loud", action="store_true")

    cli.register(Command("hello", "say hello", run=_say("hello")))
    cli.register(Command("bye", "say bye", run=_say("bye")))
    cli.register(Command("runs", configure=loud, run=_say("ext"), actions=("wave",), extends=True))
    assert cli.main(["hello"]) == 0 and cli.main(["bye"]) == 0
    assert cli.main(["runs", "wave", "--loud"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "hello None None",
        "bye None None",
        "ext wave True",
    ]


def test_an_extension_leaves_the_built_in_actions_to_the_built_in(
    registry, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    cli.register(Command("runs", run=_say("ext"), actions=("wave",), extends=True))
    assert cli.main(["runs", "ls"]) == 0
    assert "no runs yet" in capsys.readouterr().out


def test_the_store_and_cost_actions_extend_models_and_runs() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["models", "history", "iris"]).action == "history"
    args = parser.parse_args(["runs", "cost", "--by", "model", "--since", "7d"])
    assert (args.action, args.by, args.since) == ("cost", "model", "7d")
    args = parser.parse_args(["promote", "iris", "v1", "--to", "production", "--reason", "ok"])
    assert (args.reason, args.force) == ("ok", False)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        pytest.param(
            [Command("x", run=_say("a")), Command("x", run=_say("b"))], "defined twice", id="twice"
        ),
        pytest.param([Command("y", run=_say("a"), extends=True)], "never defined", id="orphan"),
    ],
)
def test_a_command_defined_twice_or_extended_alone_is_refused(registry, records, message) -> None:
    registry.extend(records)
    with pytest.raises(ValueError, match=message):
        cli.build_parser()


def test_an_entry_point_may_name_one_command_or_several(monkeypatch, capsys) -> None:
    class EP:
        def __init__(self, value: object) -> None:
            self.value = value

        def load(self) -> object:
            return self.value

    points = [EP(Command("one", run=_say("one"))), EP([Command("two", run=_say("two"))])]

    def entry_points(group: str) -> list[EP]:
        return points if group == cli.ENTRY_POINT_GROUP else []

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    assert cli.main(["one"]) == 0 and cli.main(["two"]) == 0
    assert capsys.readouterr().out.splitlines() == ["one None None", "two None None"]


def test_no_command_module_patches_argparse_internals() -> None:
    root = Path(cli.__file__).parent
    for module in ("cli", *[m.rsplit(".", 1)[1] for m in cli.COMMAND_MODULES]):
        text = (root / f"{module}.py").read_text()
        assert "_actions" not in text and "sub.choices[" not in text, module


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["plan", "iris", "--json", "split=random"], id="between"),
        pytest.param(["plan", "--json", "iris", "split=random"], id="before"),
        pytest.param(["plan", "iris", "split=random", "--json"], id="after"),
    ],
)
def test_flags_go_anywhere_among_the_overrides(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert (args.recipe, args.overrides, args.json) == ("iris", ["split=random"], True)


def test_flags_among_overrides_on_a_real_plan(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    assert cli.main(["plan", "iris", "--json", "deploy=none", "--format", "table"]) == 0
    assert '"step": "load:iris"' in capsys.readouterr().out.replace("'", '"')


@pytest.mark.parametrize("command", ["run", "validate", "plan"])
def test_a_recipe_command_without_a_recipe_says_a_recipe_is_needed(command, capsys) -> None:
    assert cli.main([command]) == 2
    err = capsys.readouterr().err
    assert f"`sous {command}` needs a RECIPE" in err and "OVERRIDE" not in err
    assert "Traceback" not in err
