"""Shell completion: commands, actions, option choices, recipes, groups, options and keys,
from the live parser; the bash script run by a real bash."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
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


def _register(home: Path, *names: str) -> None:
    from engine.store import registry

    url = f"sqlite:///{home / 'runs.db'}"
    for name in names:
        registry.record_version(
            name, "v1", model_tag=f"{name}:a", bento_tag=None, metrics={}, labels={}, url=url
        )


def test_model_names_from_the_registry(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "h"
    home.mkdir()
    monkeypatch.setenv("SOUS_HOME", str(home))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    _register(home, "iris", "churn")
    assert complete("promote", "") == ["churn", "iris"]
    assert complete("promote", "--reason", "why", "i") == ["iris"]
    assert complete("promote", "iris", "") == ["v1"]  # VERSION: that model's versions
    assert complete("promote", "nope", "") == []
    assert complete("promote", "iris", "v1", "--to", "") == ["staging", "production"]
    assert complete("rollback", "c") == ["churn"]
    assert complete("serve", "") == ["churn", "iris"]
    assert complete("models", "ls", "") == ["churn", "iris"]
    assert complete("models", "history", "ch") == ["churn"]
    assert complete("monitor", "") == ["churn", "iris"]
    assert complete("build", "ir") == ["iris"]


def test_no_registry_completes_nothing_and_creates_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "none"))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    assert complete("promote", "") == []
    assert not (tmp_path / "none").exists()


def test_the_recipes_model_names_after_models_dot() -> None:
    found = complete("run", "iris", "models.")
    assert {"models.rf.", "models.logreg."} <= set(found)
    assert "models.rf." in complete("plan", "iris", "models.r")
    assert "+models.rf." in complete("plan", "iris", "+models.r")
    assert complete("plan", "iris", "models.rf.n_e") == ["models.rf.n_estimators="]


def _shim(tmp_path: Path, home: Path) -> dict[str, str]:
    """`sous` on PATH as installed, and the environment a shell runs it in."""
    shim = tmp_path / "bin" / "sous"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m engine "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOUS_")}
    env.update(
        PATH=f"{shim.parent}{os.pathsep}{env['PATH']}", SOUS_HOME=str(home), HOME=str(tmp_path)
    )
    return env


def _script(shell: str, tmp_path: Path) -> Path:
    out = subprocess.run(
        [sys.executable, "-m", "engine", "completion", shell],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = tmp_path / f"sous.{shell}"
    path.write_text(out)
    return path


# zsh without a terminal: compadd and compdef only exist in a completion widget, so this
# harness defines them to print what _sous offers (a "<nospace>" mark for -S '').
ZSH_HARNESS = r"""
compdef() { : }
compadd() {
  local nospace=0 arr w
  while (( $# )); do
    case $1 in
      -S) shift; [[ -z $1 ]] && nospace=1 ;;
      -a) shift; arr=$1 ;;
    esac
    shift
  done
  for w in "${(@P)arr}"; do print -r -- "$w${${nospace:#0}:+<nospace>}"; done
}
source "$SCRIPT"
words=(${(z)LINE})
[[ $LINE == *' ' ]] && words+=('')
CURRENT=${#words}
_sous
true
"""


@pytest.mark.skipif(
    shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)"
)
def test_zsh_completion_function_offers_the_candidates(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    _register(home, "iris_model")
    env = _shim(tmp_path, home)
    env["SCRIPT"] = str(_script("zsh", tmp_path))

    def offered(line: str) -> list[str]:
        env["LINE"] = line
        out = subprocess.run(
            ["zsh", "-f", "-c", ZSH_HARNESS], capture_output=True, text=True, env=env, check=True
        )
        return out.stdout.splitlines()

    assert offered("sous pla") == ["plan"]
    assert offered("sous plan iris split=ra") == ["split=random"]
    assert "models.rf.<nospace>" in offered("sous run iris models.r")
    assert "cv.folds=<nospace>" in offered("sous plan iris cv.f")
    assert offered("sous promote ") == ["iris_model"]


@pytest.mark.skipif(
    shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)"
)
def test_zsh_completes_in_an_interactive_shell_with_compinit(tmp_path: Path) -> None:
    """The script as a user loads it: compinit, then TAB typed in a real zsh on a pty."""
    import pty
    import select
    import signal
    import time

    home = tmp_path / "h"
    home.mkdir()
    _register(home, "iris_model")
    env = {**_shim(tmp_path, home), "TERM": "dumb"}
    script = _script("zsh", tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a login-free interactive zsh with no user rc files
        os.execvpe("zsh", ["zsh", "-f", "-i"], env)
    seen = b""

    def wait_for(done: Callable[[bytes], bool], timeout: float = 60.0) -> bool:
        nonlocal seen
        end = time.monotonic() + timeout
        while not done(seen) and time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        return done(seen)

    def tab_then_echo(typed: bytes) -> bytes:
        """Type, press TAB, then turn the line into `print -r -- L:<line>` and run it."""
        nonlocal seen
        seen = b""
        os.write(fd, typed + b"\t")
        os.write(fd, b"\x01print -r -- L:\n")  # Ctrl-A: to the start of the completed line
        assert wait_for(lambda out: b"\r" in out.partition(b"\nL:")[2]), seen
        return seen.partition(b"\nL:")[2].split(b"\r", 1)[0]

    try:
        os.write(fd, f"autoload -U compinit; compinit -u; source {script}; print SET-UP\n".encode())
        assert wait_for(lambda out: b"SET-UP\r\n" in out), seen
        assert tab_then_echo(b"sous pla") == b"sous plan"
        assert tab_then_echo(b"sous plan iris split=ra") == b"sous plan iris split=random"
        assert tab_then_echo(b"sous serve iris_m") == b"sous serve iris_model"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.skipif(
    shutil.which("fish") is None, reason="fish is not installed (apt-get install fish)"
)
def test_fish_completes_through_the_script(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    _register(home, "iris_model")
    env = _shim(tmp_path, home)
    script = _script("fish", tmp_path)

    def offered(line: str) -> list[str]:
        code = f"source {script}; complete -C {shlex.quote(line)}"
        out = subprocess.run(
            ["fish", "--no-config", "-c", code], capture_output=True, text=True, env=env, check=True
        )
        return [w.split("\t")[0] for w in out.stdout.splitlines()]

    assert offered("sous pla") == ["plan"]
    assert offered("sous plan iris split=ra") == ["split=random"]
    assert "models.rf." in offered("sous run iris models.r")
    assert offered("sous rollback ") == ["iris_model"]
    assert "iris" in offered("sous run ")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_the_other_scripts_parse(shell: str, capsys) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    main(["completion", shell])
    script = capsys.readouterr().out
    flag = ["-n"] if shell == "zsh" else ["--no-execute"]
    subprocess.run([shell, *flag, "-c", script], check=True)
