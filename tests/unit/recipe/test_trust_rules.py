"""Issue 11: trust rules checked when a recipe is validated. Production only with a smoke
test; a bad ``_target_`` in a ``sous run -m`` sweep refused before any job runs (exit 2, the
override named), like the same value in a single run."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import RecipeError

PRIVATE = "sklearn.utils._testing.assert_run_python_script_without_output"
RF = "sklearn.ensemble.RandomForestClassifier"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_production_without_smoke_test_is_refused(home: Path) -> None:
    from engine import api

    with pytest.raises(RecipeError) as exc:
        api.validate("iris", ["deploy.promote=production", "deploy.smoke=false"])
    (problem,) = exc.value.problems
    assert problem.key_path == "deploy.smoke"
    assert "sous promote" in (problem.hint or "")
    assert api.validate("iris", ["deploy.promote=production"]).deploy.smoke
    assert api.validate("iris", ["deploy.promote=staging", "deploy.smoke=false"])
    assert api.validate("iris", ["deploy=none", "deploy.promote=production"])  # not deployed


def test_production_without_smoke_test_exits_2(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "iris", "deploy.promote=production", "deploy.smoke=false"]) == 2
    err = capsys.readouterr().err
    assert "deploy.smoke" in err and "Traceback" not in err


def _nothing_ran(home: Path) -> bool:
    return not (home / "runs").exists() or not any((home / "runs").iterdir())


@pytest.mark.parametrize(
    "sweep",
    [
        pytest.param([f"models.rf._target_={PRIVATE},{RF}"], id="every-job"),
        pytest.param(
            [
                f"models.rf._target_={RF},{PRIVATE}",
                "models.rf.n_estimators=5,6,7",
                "models.rf.max_depth=2,3",
            ],
            id="each-value-of-a-big-grid",
        ),
    ],
)
def test_a_bad_target_in_a_sweep_exits_2_before_any_job(
    sweep: list[str], home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "iris", "-m", *sweep, "--executor", "sync"]) == 2
    err = capsys.readouterr().err
    assert "models.rf._target_" in err and "_testing" in err and "(in the job " in err
    assert f"(of `{sweep[0]}`)" in err
    assert "Traceback" not in err
    assert _nothing_ran(home)
    assert not (home / "multirun").exists()


def test_a_valid_sweep_passes_the_job_check() -> None:
    from engine.recipe.jobs import _jobs, _split

    base, sweeps = _split(
        ["a=1", "b=1,2", "+c=x,y", "hydra.launcher.n_workers=2", "d=interval(0,1)"]
    )
    assert base == ["a=1"]
    assert sweeps == [("b=1,2", ["b=1", "b=2"]), ("+c=x,y", ["+c=x", "+c=y"])]
    assert len(_jobs([values for _, values in sweeps])) == 4  # every job
    assert len(_jobs([["a=1", "a=2", "a=3"], ["b=1", "b=2", "b=3"]])) == 6  # each value
