"""Optuna studies in $SOUS_HOME (engine.studies): in a run, each model's search is a named
study in the home's RDB storage, owner-only; outside a run it stays in memory; processes
opening a new storage together all succeed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from engine import studies
from engine.specs import ModelSpec, SweepSpec
from engine.sweeps import OptunaSearch

SPACE = {"x": {"float": [-5, 5]}, "n": {"int": [0, 10]}}


def model(name: str) -> ModelSpec:
    return ModelSpec(name=name, kind="sklearn", target="x.Y", params={"a": 1}, search=SPACE)


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_outside_a_run_the_study_stays_in_memory(home: Path) -> None:
    search = OptunaSearch(model("rf"), SweepSpec("optuna", 3), 0)
    assert isinstance(search.study._storage, optuna.storages.InMemoryStorage)
    assert not (home / "optuna").exists()


def test_in_a_run_each_model_has_a_named_study_in_the_home(home: Path) -> None:
    with studies.for_run("iris", "20261130-000000-abcdef") as run:
        searches = [OptunaSearch(model(m), SweepSpec("optuna", 3), 7) for m in ("rf", "lr")]
    for search in searches:
        while (trial := search.ask()) is not None:
            search.tell(trial.number, float(trial.params["x"]) ** 2)
    url = f"sqlite:///{home.resolve() / 'optuna' / 'studies.db'}"
    assert run.url == studies.storage_url() == url
    assert run.by_model == {
        "rf": "iris/rf/20261130-000000-abcdef",
        "lr": "iris/lr/20261130-000000-abcdef",
    }
    loaded = optuna.load_study(study_name="iris/rf/20261130-000000-abcdef", storage=url)
    assert len(loaded.trials) == 3 and loaded.direction == optuna.study.StudyDirection.MAXIMIZE
    assert loaded.user_attrs == {
        "recipe": "iris",
        "model": "rf",
        "run_id": "20261130-000000-abcdef",
        "seed": 7,
    }
    assert (home / "optuna").stat().st_mode & 0o777 == 0o700
    assert (home / "optuna" / "studies.db").stat().st_mode & 0o777 == 0o600
    assert studies.current() is None  # the run's context ended


def test_the_same_seed_proposes_the_same_start_in_memory_and_stored(home: Path) -> None:
    """Storing the study changes nothing the run sees."""

    def proposals() -> list[dict]:
        search = OptunaSearch(model("rf"), SweepSpec("optuna", 4), 3)
        out = []
        while (trial := search.ask()) is not None:
            out.append(dict(trial.params))
            search.tell(trial.number, 1.0)
        return out

    in_memory = proposals()
    with studies.for_run("iris", "r1"):
        stored = proposals()
    assert stored == in_memory


def test_processes_opening_a_new_storage_together_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna' / 'studies.db'}"
    code = (
        "import sys, optuna; from engine.studies import open_storage\n"
        "optuna.create_study(storage=open_storage(sys.argv[1]), study_name=sys.argv[2])\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url, f"s{i}"], stderr=subprocess.PIPE)
        for i in range(4)
    ]
    errors = [p.communicate()[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    names = {s.study_name for s in optuna.get_all_study_summaries(storage=url)}
    assert names == {"s0", "s1", "s2", "s3"}
