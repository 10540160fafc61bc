"""Shell completion: commands, actions, option choices, recipes, groups, options and keys,
from the live parser; the bash script run by a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import build_parser, main
from engine.completion import SHELLS, candidates


def complete(*words: str) -> list[str]:
    return candidates(build_parser(), list(words))


def test_commands_and_actions() -> None:
    assert {"run", "plan", "runs", "cache", "ui", "completion"} <= set(complete(""))
    assert "__complete" not in complete("")
    assert complete("pl") == ["plan"]
    assert complete("runs", "") == ["ls", "show", "last", "leaderboard", "compare", "cost"]
    assert complete("models", "h") == ["history"]


def test_options_and_their_choices() -> None:
    assert "--format" in complete("plan", "iris", "--f")
    assert complete("plan", "iris", "--format", "") == ["table", "dot", "mermaid"]
    assert complete("run", "iris", "--cfg", "") == ["job", "hydra", "all"]


def test_recipes_groups_options_and_keys() -> None:
    assert "iris" in complete("run", "")
    assert complete("run", "ir") == ["iris"]
    assert complete("plan", "iris", "split=") == [
        "split=group",
        "split=random",
        "split=stratified",
        "split=time",
    ]
    keys = complete("plan", "iris", "cv.")
    assert "cv.folds=" in keys and "cv.kind=" in keys
    assert "models.rf.n_estimators=" in complete("plan", "iris", "models.rf.")
    assert "+split=random" in complete("plan", "iris", "+split=")
    # options typed before the recipe do not count as positionals
    assert "iris" in complete("plan", "--format", "dot", "")


def test_the_hidden_command_prints_one_candidate_a_line(capsys) -> None:
    assert main(["__complete", "--", "runs", "l"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ls", "last", "leaderboard"]


@pytest.mark.parametrize("shell", SHELLS)
def test_sous_completion_prints_the_script(shell, capsys) -> None:
    assert main(["completion", shell]) == 0
    out = capsys.readouterr().out
    assert "sous __complete --" in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_through_the_script(tmp_path: Path) -> None:
    script = subprocess.run(
        [sys.executable, "-m", "engine", "completion", "bash"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shim = tmp_path / "sous"  # `sous` on PATH, as installed
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m engine "$@"\n')
    shim.chmod(0o755)

    def reply(line: str) -> list[str]:
        code = (
            f"{script}\nCOMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n"
            '_sous_complete; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
        out = subprocess.run(
            ["bash", "-c", code], capture_output=True, text=True, env=env, check=True
        )
        return [w for w in out.stdout.splitlines() if w]

    assert reply("sous pla") == ["plan"]
    assert reply("sous plan iris split=ra") == ["random"]  # bash splits the word at '='
    assert "iris" in reply("sous run ")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_the_other_scripts_parse(shell: str, capsys) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    main(["completion", shell])
    script = capsys.readouterr().out
    flag = ["-n"] if shell == "zsh" else ["--no-execute"]
    subprocess.run([shell, *flag, "-c", script], check=True)
