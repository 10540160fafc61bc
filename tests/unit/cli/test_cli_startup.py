"""`sous --help` must answer at once: no sklearn, torch, pandas or dask.dataframe imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.cli import build_parser, main

HEAVY = ("sklearn", "torch", "dask.dataframe", "pandas", "bentoml", "lightning", "distributed")


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from engine.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["run", "iris", "split.test_size=0.3", "-m"], id="run-multirun"),
        pytest.param(["runs", "show", "abc", "--json"], id="runs-show"),
        pytest.param(["promote", "iris", "v1", "--to", "production"], id="promote"),
        pytest.param(["serve", "iris:abc", "--port", "3001"], id="serve"),
    ],
)
def test_parser_accepts_the_documented_commands(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.command == argv[0]


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["promote", "iris"])
    assert exc.value.code == 2


def test_runs_show_without_id_is_a_user_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    assert main(["runs", "show"]) == 2
    err = capsys.readouterr().err
    assert "needs a run ID" in err and "Traceback" not in err


def test_unknown_run_is_a_user_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    assert main(["runs", "show", "nope"]) == 2
    assert "no run with id 'nope'" in capsys.readouterr().err


def test_no_runs_yet(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    assert main(["runs", "ls"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    assert main(["runs", "last"]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["run", "iris", "-m", "a=1,2"], id="flag-before-overrides"),
        pytest.param(["run", "iris", "a=1,2", "-m"], id="flag-after-overrides"),
        pytest.param(["run", "-m", "iris", "a=1,2"], id="flag-before-recipe"),
    ],
)
def test_multirun_flag_anywhere(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.multirun and args.recipe == "iris" and args.overrides == ["a=1,2"]


def test_the_quick_exit_keeps_the_exit_code_output_hooks_and_threads() -> None:
    code = (
        "import atexit, threading, time, sys\n"
        "from engine.cli import exit_now\n"
        "atexit.register(lambda: print('hook ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\n"
        "sys.stdout.write('x' * 200000)\n"
        "exit_now(3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 3
    assert out.stdout.startswith("x" * 200000)
    assert out.stdout[200000:].splitlines() == ["thread done", "hook ran"]


def test_the_sous_module_exits_2_on_a_user_error(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error:")
