"""One ``$SOUS_HOME`` with real runs, one ``sous ui`` server and one Chromium per module:
a grid sweep and a quarantining run, each packaged as a version of iris, and a two-job
multirun on the Dask launcher, all three run at once."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    TOKEN,
    Home,
    Server,
    console_errors,
    require_chromium,
    start_browser,
    start_ui,
    stop,
)
from e2e_support import ROOT, env_with, sous_cmd

from engine.store.runs import RunsDB

QUARANTINE = """
schema:
  on_failure: quarantine
  columns:
    "sepal length (cm)": {dtype: float64, checks: {le: 7.5}}
"""


def _run(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        sous_cmd(*args), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _finish(proc: subprocess.Popen[bytes]) -> None:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out.decode()[-3000:]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    require_chromium()
    reuse = os.environ.get("SOUS_UI_TEST_HOME")  # a developer's shortcut: the home of a
    if reuse and (Path(reuse) / "home.json").is_file():  # previous run of this module
        saved = json.loads((Path(reuse) / "home.json").read_text())
        return Home(
            Path(saved["path"]),
            env_with(Path(saved["path"])),
            saved["sweep_run"],
            saved["quarantine_run"],
            tuple(saved["multirun_runs"]),
        )
    path = Path(reuse) if reuse else tmp_path_factory.mktemp("ui-home")
    env = env_with(path / "sous")
    recipe = path / "iris.yaml"
    recipe.write_text((ROOT / "recipes" / "iris.yaml").read_text() + QUARANTINE)
    jobs = [  # at once: most of each is process start-up and waiting
        _run(env, "run", "iris", "sweep=grid", "deploy.smoke=false", "--executor", "sync"),
        _run(
            env,
            "run",
            str(recipe),
            "models.logreg.C=0.5",
            "deploy.smoke=false",
            "--executor",
            "sync",
        ),
        _run(env, "run", "iris", "-m", "deploy=none", "models.rf.n_estimators=20,40"),
    ]
    for job in jobs:
        _finish(job)
    db = RunsDB(f"sqlite:///{path / 'sous' / 'runs.db'}")
    records = db.list(limit=100)
    multirun = tuple(sorted(r["run_id"] for r in records if db.group_of(r["run_id"])))
    [quarantine_run] = [r["run_id"] for r in records if r.get("recipe_file") == str(recipe)]
    [sweep_run] = [r["run_id"] for r in records if len(r["leaderboard"]) > 2]
    assert len(multirun) == 2 and len(records) == 4, [r["run_id"] for r in records]
    made = Home(path / "sous", env, sweep_run, quarantine_run, multirun)
    if reuse:
        (path / "home.json").write_text(
            json.dumps({**made.__dict__, "path": str(made.path), "env": None})
        )
    return made


@pytest.fixture(scope="module")
def server(home: Home) -> Iterator[Server]:
    s = start_ui({**home.env, "SOUS_UI_TOKEN": TOKEN})
    yield s
    stop(s.proc)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_chromium()
    d = start_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (kept as test artifacts; SOUS_UI_SCREENSHOTS names a dir)."""
    named = os.environ.get("SOUS_UI_SCREENSHOTS")
    if named:
        Path(named).mkdir(parents=True, exist_ok=True)
        return Path(named)
    return tmp_path_factory.mktemp("ui-screenshots")


@pytest.fixture
def browser(driver: Any) -> Iterator[Any]:
    """The module's browser; every test ends with no console error on any page it opened."""
    console_errors(driver)  # drain what earlier tests left
    yield driver
    errors = console_errors(driver)
    assert not errors, f"console errors: {errors}"
