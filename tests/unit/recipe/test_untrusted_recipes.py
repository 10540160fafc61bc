"""Issue 11, recipes as untrusted input: each attack measured on main is refused (exit 2,
with the key path) by ``sous validate`` and ``sous run -m``, and nothing it names runs.

Every case uses the ``canary`` package (conftest): whatever would be called or imported
leaves a marker file, and each test asserts the file is absent.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.cli import main

MODELS = "models:\n  rf: {_target_: sklearn.ensemble.RandomForestClassifier, n_estimators: 5}\n"
HEAD = """name: attack
task: classification
target: target
data:
  sources:
    iris: {kind: sklearn, name: iris}
"""


def sous(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``sous ARGS`` in process: (exit code, stderr)."""
    code = main(args)
    return code, capsys.readouterr().err


RECIPE_ATTACKS = [
    pytest.param(
        MODELS + "  evil: {_target_: os.system, command: touch MARKER}\n"
        "security:\n  allow_targets: [os, posix]\n",
        ["security.allow_targets"],
        id="recipe-widens-its-allowlist-to-os.system",
    ),
    pytest.param(
        MODELS + "  evil:\n    _target_: "
        "sklearn.utils._testing.assert_run_python_script_without_output\n"
        "    source_code: open('MARKER', 'w')\n",
        ["models.evil._target_"],
        id="private-sklearn-testing-module",
    ),
    pytest.param(
        MODELS + "  evil: {_target_: sklearn.datasets.dump_svmlight_file, f: MARKER}\n",
        ["models.evil._target_"],
        id="public-function-writes-files",
    ),
    pytest.param(
        MODELS + "  evil: {_target_: sklearn.datasets.fetch_openml, name: iris}\n",
        ["models.evil._target_"],
        id="public-function-opens-sockets",
    ),
    pytest.param(
        MODELS + "  evil: {_target_: sklearn.utils.Bunch}\n",
        ["models.evil._target_"],
        id="class-that-is-not-an-estimator",
    ),
    pytest.param(
        MODELS + "  evil: {_target_: sous_canary.touch}\n",
        ["models.evil._target_"],
        id="function-outside-the-allowlist",
    ),
    pytest.param(
        MODELS + "hydra:\n  callbacks:\n    evil: {_target_: sous_canary.NotAnEstimator}\n",
        ["hydra.callbacks"],
        id="hydra.callbacks",
    ),
    pytest.param(
        MODELS + "hydra:\n  searchpath: ['file:///etc']\n",
        ["hydra.searchpath"],
        id="hydra.searchpath",
    ),
    pytest.param(
        MODELS + "hydra:\n  job:\n    env_set: {LD_PRELOAD: /tmp/evil.so}\n",
        ["hydra.job.env_set"],
        id="hydra.job.env_set",
    ),
    pytest.param(
        MODELS + "hydra:\n  launcher: {_target_: sous_canary.NotAnEstimator}\n",
        ["hydra.launcher._target_"],
        id="hydra.launcher._target_",
    ),
    pytest.param(
        MODELS + "hydra:\n  sweeper:\n    sampler: {_target_: sous_canary.NotAnEstimator}\n",
        ["hydra.sweeper.sampler._target_"],
        id="nested-_target_-in-sweeper",
    ),
    pytest.param(
        MODELS + "hydra:\n  job_logging:\n    handlers:\n      h: {'()': sous_canary.touch}\n",
        ["hydra.job_logging"],
        id="hydra.job_logging-factory",
    ),
    pytest.param(
        MODELS + "defaults:\n  - _self_\n  - override hydra/callbacks: evil\n",
        ["defaults[1]"],
        id="defaults-select-hydra-callbacks",
    ),
    pytest.param(
        MODELS + "extra:\n  loader: {_target_: sklearn.ensemble.RandomForestClassifier}\n",
        ["extra.loader._target_", "extra"],
        id="_target_-outside-models",
    ),
]


@pytest.mark.parametrize(("body", "key_paths"), RECIPE_ATTACKS)
def test_validate_refuses_recipe_attacks(
    body: str,
    key_paths: list[str],
    canary: Path,
    write_recipe: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_recipe(HEAD + body.replace("MARKER", str(canary)))
    code, err = sous(["validate", str(path)], capsys)
    assert code == 2, err
    for key in key_paths:
        assert f": {key}:" in err or f" {key}:" in err, err
    assert "Traceback" not in err
    assert not canary.exists()


OVERRIDE_ATTACKS = [
    pytest.param("+security.allow_targets=[os]", "security.allow_targets", id="widen-allowlist"),
    pytest.param(
        "+hydra.callbacks.evil._target_=sous_canary.touch", "hydra.callbacks", id="callbacks"
    ),
    pytest.param("hydra.searchpath=[file:///etc]", "hydra.searchpath", id="searchpath"),
    pytest.param("+hydra.job.env_set.X=1", "hydra.job.env_set", id="env_set"),
    pytest.param("hydra.launcher._target_=sous_canary.touch", "hydra.launcher", id="launcher"),
    pytest.param("hydra.sweeper._target_=sous_canary.touch", "hydra.sweeper", id="sweeper"),
    pytest.param("hydra/callbacks=evil", "hydra/callbacks", id="callbacks-group"),
    pytest.param("hydra/job_logging=evil", "hydra/job_logging", id="logging-group"),
    pytest.param(
        "+hydra/callbacks@hydra.callbacks=evil", "hydra/callbacks", id="callbacks-group-package"
    ),
    pytest.param("+extra@hydra=evil", "+extra@hydra=evil", id="group-into-hydra-package"),
    pytest.param("+data.loader._target_=sous_canary.touch", "data.loader", id="target-in-data"),
    pytest.param(
        "+models.evil._target_=sous_canary.touch",
        "models.evil._target_",
        id="model-function",
    ),
]


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["run", "-m"]])
@pytest.mark.parametrize(("override", "key"), OVERRIDE_ATTACKS)
def test_overrides_are_refused_before_hydra_runs(
    override: str,
    key: str,
    command: list[str],
    canary: Path,
    minimal: str,
    write_recipe: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_recipe(minimal)
    args = [command[0], str(path), override, *command[1:]]
    if command == ["run", "-m"]:
        args.append("+seed=1,2")
    code, err = sous(args, capsys)
    # a models.* key is not a Hydra key: every job of a sweep is validated before any
    # launches (engine/recipe/jobs.py), so the sweep is refused like a single run
    assert code == 2, err
    assert key in err
    assert "Traceback" not in err
    assert not canary.exists()


@pytest.mark.parametrize(
    ("command", "selection"),
    [
        pytest.param(["validate"], "extra: evil", id="validate"),
        pytest.param(["run", "-m", "+seed=1,2"], "extra: evil", id="multirun"),
        pytest.param(["validate"], "extra@_global_: evil2", id="validate-global-package"),
        pytest.param(["run", "-m", "+seed=1,2"], "extra@_global_: evil2", id="multirun-global"),
    ],
)
def test_code_running_keys_in_a_config_group_file_are_refused(
    command: list[str],
    selection: str,
    canary: Path,
    minimal: str,
    write_recipe: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A group file next to the recipe cannot set them either: Hydra's composed ``hydra``
    node is checked before the multirun instantiates its callbacks."""
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "evil.yaml").write_text(
        "# @package _global_\nhydra:\n  callbacks:\n    evil:\n"
        "      _target_: sous_canary.NotAnEstimator\n",
        encoding="utf-8",
    )
    (tmp_path / "extra" / "evil2.yaml").write_text(
        "hydra:\n  callbacks:\n    evil:\n      _target_: sous_canary.NotAnEstimator\n",
        encoding="utf-8",
    )
    path = write_recipe(f"defaults:\n  - _self_\n  - {selection}\n" + minimal)
    code, err = sous([command[0], str(path), *command[1:]], capsys)
    assert code == 2, err
    assert "hydra.callbacks.evil" in err
    assert not canary.exists()


@pytest.mark.parametrize(
    ("allow", "target", "expected_code"),
    [
        pytest.param([], "sous_canary.Estimator", 2, id="not-allowlisted"),
        pytest.param(["sous_canary"], "sous_canary.Estimator", 0, id="flag-allows-estimator"),
        pytest.param(["sous_canary"], "sous_canary.touch", 2, id="flag-allows-no-function"),
        pytest.param(["sous_canary"], "sous_canary.NotAnEstimator", 2, id="not-an-estimator"),
        pytest.param(["sous_canary"], "sous_canary._private.Estimator", 2, id="private-module"),
        pytest.param(
            ["sous_canary._private"], "sous_canary._private.Estimator", 0, id="private-allowed"
        ),
    ],
)
def test_allow_target_flag(
    allow: list[str],
    target: str,
    expected_code: int,
    canary: Path,
    write_recipe: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--allow-target`` is the operator's: it widens the allowlist, but only to
    estimator classes; validation imports what it allows and calls nothing."""
    monkeypatch.setenv("SOUS_ALLOW_TARGETS", "")  # restored after the test
    path = write_recipe(HEAD + f"models:\n  m: {{_target_: {target}}}\n")
    flags = [f"--allow-target={p}" for p in allow]
    code, err = sous(["validate", str(path), *flags], capsys)
    assert code == expected_code, err
    if code:
        assert "models.m._target_" in err
    assert not canary.exists()


def test_recipe_that_sets_a_forbidden_key_is_reported_with_its_line(
    write_recipe: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEAD
        + MODELS
        + textwrap.dedent(
            """
        hydra:
          searchpath: ['file:///etc']
        """
        )
    )
    path = write_recipe(text)
    code, err = sous(["validate", str(path)], capsys)
    assert code == 2
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "searchpath" in t)
    assert f"{path}:{line}: hydra.searchpath" in err


@pytest.mark.parametrize(
    "command", [pytest.param(["validate"], id="validate"), pytest.param(["run", "-m"], id="-m")]
)
def test_a_launcher_from_the_recipe_directory_must_be_an_installed_plugin(
    command: list[str],
    canary: Path,
    minimal: str,
    write_recipe: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``hydra/launcher=NAME`` may pick a file next to the recipe; its ``_target_`` must be
    an installed launcher plugin, checked before Hydra instantiates it."""
    (tmp_path / "hydra" / "launcher").mkdir(parents=True)
    (tmp_path / "hydra" / "launcher" / "evil.yaml").write_text(
        "_target_: sous_canary.NotAnEstimator\n", encoding="utf-8"
    )
    path = write_recipe(minimal)
    args = [command[0], str(path), "hydra/launcher=evil", *command[1:]]
    code, err = sous([*args, "+seed=1,2"] if command[1:] else args, capsys)
    assert code == 2, err
    assert "hydra.launcher._target_" in err
    assert not canary.exists()
