"""The driver submits a static sweep's trials together (one compile, one submission), not
one submission per trial; cached trials finish at once; a CPU budget still stops new trials
(its accounting is the only per-node read of the cache's meta the driver does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine import api
from engine.execution.sessions import SyncSession

RECIPE = """
name: batch_sweep
task: classification
target: y
seed: 0
data:
  sources:
    table: {{kind: csv, path: {path}}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.1}}
cv: {{kind: stratified_kfold, folds: 2}}
models:
  lr:
    _target_: sklearn.linear_model.LogisticRegression
    search:
      C: {{choice: [0.1, 1.0, 10.0]}}
sweep: {{strategy: grid{budget}}}
select: {{metric: accuracy}}
deploy: {{enabled: false}}
"""


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["y"] = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    frame.to_csv(tmp_path / "data.csv", index=False)

    def write(budget: str = "") -> Path:
        path = tmp_path / "batch_sweep.yaml"
        path.write_text(RECIPE.format(path=tmp_path / "data.csv", budget=budget))
        return path

    return write


@pytest.fixture
def submissions(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The steps of the tasks in each ``submit`` call to the session."""
    calls: list[list[str]] = []
    original = SyncSession.submit

    def spy(self: SyncSession, tasks: Any) -> None:
        tasks = list(tasks)
        calls.append([t.node.step for t in tasks])
        original(self, tasks)

    monkeypatch.setattr(SyncSession, "submit", spy)
    return calls


def test_a_static_sweep_goes_in_as_one_submission_and_a_rerun_computes_nothing(
    recipe: Any, submissions: list[list[str]]
) -> None:
    spec = api.validate(str(recipe()))
    first = api.run(spec, executor="sync")
    with_trials = [steps for steps in submissions if any(s.startswith("trial:") for s in steps)]
    assert len(with_trials) == 1
    assert sorted(s for s in with_trials[0] if s.startswith("trial:")) == [
        "trial:lr:t0",
        "trial:lr:t1",
        "trial:lr:t2",
    ]
    assert sum(s.startswith("fit:") for s in with_trials[0]) == 3 * 2  # every fold's fit
    submissions.clear()
    again = api.run(spec, executor="sync")
    assert not any(not s["cached"] for s in again["steps"])
    assert again["leaderboard"] == first["leaderboard"]
    assert again["winner"] == first["winner"]


def test_a_cpu_budget_still_stops_new_trials(recipe: Any) -> None:
    spec = api.validate(str(recipe(budget=", budget: {cpu_hours: 1.0e-9}")))
    record = api.run(spec, executor="sync")
    assert record["sweep_stopped"].startswith("sweep budget spent")
    assert 0 < len(record["leaderboard"]) < 3
