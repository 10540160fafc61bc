"""``sous run RECIPE -m``: a Hydra multirun of a recipe on the Dask launcher."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.api import leaderboard
from engine.errors import RecipeError
from engine.home import db_url
from engine.multirun import JobResult, best, hydra_overrides_for_multirun, multirun
from engine.store.runs import RunsDB

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sous_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "sous-home"
    monkeypatch.setenv("SOUS_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    return home


@pytest.mark.parametrize(
    "overrides, expected",
    [
        pytest.param(
            # a recipe section's key is forced (++): set or added, like a single run's
            ["models.rf.n_estimators=20,40"],
            "++models.rf.n_estimators=20,40",
            id="value-sweep",
        ),
        pytest.param(
            ["split=random,stratified"], "split=random,stratified", id="group-in-defaults"
        ),
        pytest.param(["sweep=grid,random"], "+sweep=grid,random", id="group-made-appendable"),
        pytest.param(
            ["models.rf.n_estimators=int(interval(10, 50))"],
            "models.rf.n_estimators=int(interval(10, 50))",
            id="interval-for-a-sweeper",
        ),
    ],
)
def test_sweep_overrides_are_translated_like_single_ones(
    overrides: list[str], expected: str
) -> None:
    _, hydra_overrides = hydra_overrides_for_multirun("iris", overrides)
    assert expected in hydra_overrides


def test_every_bad_sweep_value_is_reported_before_anything_runs(sous_home: Path) -> None:
    with pytest.raises(RecipeError) as err:
        multirun("iris", ["split=random,stratifed", "sweep=grdi,random"])
    assert set(err.value.key_paths) == {"split=random,stratifed", "sweep=grdi,random"}
    assert "stratified" in str(err.value)  # did you mean
    assert not (sous_home / "multirun").exists()


@pytest.mark.parametrize(
    "scores, greater, winner",
    [
        pytest.param([0.5, 0.9, None], True, 1, id="max"),
        pytest.param([0.5, 0.9, None], False, 0, id="min"),
        pytest.param([None, None], True, None, id="none-scored"),
    ],
)
def test_best_job(scores: list[float | None], greater: bool, winner: int | None) -> None:
    results = [
        JobResult(
            i, (), f"r{i}", "succeeded" if s is not None else "failed", "rf", "f1", s, greater
        )
        for i, s in enumerate(scores)
    ]
    got = best(results)
    assert (got.num if got else None) == winner


def test_multirun_runs_every_job_in_one_group(sous_home: Path) -> None:
    out = io.StringIO()
    rc = multirun("iris", ["deploy=none", "model=rf", "models.rf.n_estimators=10,30"], stream=out)
    assert rc == 0, out.getvalue()
    db = RunsDB(db_url())
    runs = db.list()
    assert len(runs) == 2
    groups = {db.group_of(r["run_id"]) for r in runs}
    assert len(groups) == 1 and None not in groups
    assert sorted(r["winner"]["params"]["n_estimators"] for r in runs) == [10, 30]
    # the leaderboard of either run spans the whole multirun
    board = leaderboard(runs[0]["run_id"])
    assert {e["run_id"] for e in board} == {r["run_id"] for r in runs}
    assert "deploy is off: not packaged" in out.getvalue()
    (sweep_dir,) = (sous_home / "multirun").iterdir()
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]


def test_a_failing_job_fails_the_multirun_but_not_the_others(sous_home: Path) -> None:
    out = io.StringIO()
    # valid for the validator (every job is validated before the launch: an invalid value is
    # exit 2, see tests/unit/recipe/test_trust_rules.py), refused by fit: iris has 4 features
    sweep = "models.rf.monotonic_cst=null,[1]"
    rc = multirun("iris", ["deploy=none", "model=rf", sweep], stream=out)
    assert rc == 1
    text = out.getvalue()
    (failed,) = [line for line in text.splitlines() if "FAILED" in line]
    assert "monotonic_cst=[1]" in failed
    assert "monotonic_cst" in text.split("FAILED", 1)[1]  # its error names the parameter
    runs = RunsDB(db_url()).list()
    assert sorted(r["status"] for r in runs) == ["failed", "succeeded"]
    (ok,) = [r for r in runs if r["status"] == "succeeded"]
    assert ok["winner"]["params"].get("monotonic_cst") is None


@pytest.mark.slow
def test_the_winner_is_packaged_once(sous_home: Path) -> None:
    out = io.StringIO()
    rc = multirun("iris", ["model=rf", "models.rf.n_estimators=10,30"], stream=out)
    assert rc == 0, out.getvalue()
    runs = RunsDB(db_url()).list()
    packaged = [r for r in runs if r.get("bento")]
    assert len(runs) == 3  # two jobs + the packaging rerun of the best
    assert len(packaged) == 1
    (pack,) = packaged
    jobs = [r for r in runs if r is not pack]
    top = max(r["winner"]["metrics"]["f1"] for r in jobs)
    best_params = [r["winner"]["params"] for r in jobs if r["winner"]["metrics"]["f1"] == top]
    assert pack["winner"]["params"] in best_params  # ties: any of the best
    # the rerun computed nothing but the release steps: everything upstream was cached
    assert [s["cached"] for s in pack["steps"] if s["name"] == "package"] == [False]
    assert all(
        s["cached"] for s in pack["steps"] if s["name"] not in {"package", "smoke", "promote"}
    )


def test_jobs_steps_find_the_resources_the_recipe_gives_its_workers(sous_home: Path) -> None:
    """The jobs' steps run on the launcher's cluster: it must advertise cluster.resources,
    or a GPU-annotated model would find no worker."""
    out = io.StringIO()
    overrides = [
        "deploy=none",
        "model=rf",
        "+cluster.resources.GPU=1",
        "+models.rf.resources.GPU=1",
        "models.rf.n_estimators=10,20",
    ]
    assert multirun("iris", overrides, stream=out) == 0, out.getvalue()


def test_the_cli_runs_an_optuna_multirun(sous_home: Path) -> None:
    """`sous run ... -m` end to end in a fresh process (Dask spawns workers from it), with
    the optuna sweeper optimising the jobs' selection score."""
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "run",
        "iris",
        "deploy=none",
        "model=rf",
        "hydra/sweeper=optuna",
        "hydra.sweeper.metric=score",
        "hydra.sweeper.direction=maximize",
        "hydra.sweeper.n_trials=3",
        "models.rf.n_estimators=int(interval(5, 40))",
        "-m",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 job(s)" in done.stdout
    (sweep_dir,) = (sous_home / "multirun").iterdir()
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["states"]["complete"] == 3
    runs = RunsDB(db_url()).list()
    assert max(r["winner"]["metrics"]["f1"] for r in runs) == results["best_value"]
