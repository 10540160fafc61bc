"""One ``$SOUS_HOME`` with real runs, one ``sous ui`` server and one Chromium per module:
a grid sweep packaged as version 1 of iris, a quarantining run packaged as version 2, and a
two-job multirun on the Dask launcher (run next to version 2)."""

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


def _run_ids(env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        sous_cmd("runs", "ls", "--json", "--limit", "100"),
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return [r["run_id"] for r in reversed(json.loads(out))]  # oldest first


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
    _finish(_run(env, "run", "iris", "sweep=grid", "deploy.smoke=false", "--executor", "sync"))
    [sweep_run] = _run_ids(env)
    recipe = path / "iris.yaml"
    recipe.write_text((ROOT / "recipes" / "iris.yaml").read_text() + QUARANTINE)
    second = _run(
        env, "run", str(recipe), "models.logreg.C=0.5", "deploy.smoke=false", "--executor", "sync"
    )
    multi = _run(env, "run", "iris", "-m", "deploy=none", "models.rf.n_estimators=20,40")
    _finish(second)
    _finish(multi)
    ids = _run_ids(env)[1:]
    records = {i: _record(env, i) for i in ids}
    quarantine_run = next(i for i, r in records.items() if r.get("recipe_file") == str(recipe))
    multirun = tuple(i for i in ids if i != quarantine_run)
    assert len(multirun) == 2, ids
    made = Home(path / "sous", env, sweep_run, quarantine_run, multirun)
    if reuse:
        (path / "home.json").write_text(
            json.dumps({**made.__dict__, "path": str(made.path), "env": None})
        )
    return made


def _record(env: dict[str, str], run_id: str) -> dict[str, Any]:
    out = subprocess.run(
        sous_cmd("runs", "show", run_id, "--json"),
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return dict(json.loads(out))


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
