"""Crash #5: optuna with CV pruning on a real local Dask cluster, run after run.

Pruned trials cancel their remaining fold fits; the session's bookkeeping must stay
consistent (it used to die with StopIteration in ``next_done`` once only cancelled
futures were left)."""

from __future__ import annotations

import pytest

from engine import api

OPTUNA_CV = [
    "sweep=optuna",
    "sweep.trials=8",
    "+cv.kind=stratified_kfold",
    "+cv.folds=3",
    "deploy=none",
    "cluster=local",
]


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    def make(i: int) -> None:
        monkeypatch.setenv("SOUS_HOME", str(tmp_path / f"home{i}"))

    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    return make


def test_optuna_with_cv_pruning_on_a_local_cluster_runs_every_time(fresh_home) -> None:
    pruned = 0
    for i in range(4):
        fresh_home(i)  # a fresh home each time: every fit is computed, pruning can happen
        record = api.run(api.validate("iris", OPTUNA_CV))
        assert record["status"] == "succeeded"
        assert record["winner"]["model"] in {"logreg", "rf"}
        pruned += len(record["pruned"])
        for stopped in record["pruned"]:  # each says after which fold, at what score, with what
            searched = record["config"]["models"][stopped["model"]]["search"]
            assert stopped["fold"] in (0, 1, 2)
            assert 0.0 <= stopped["score"] <= 1.0
            assert set(searched) <= set(stopped["params"])
    assert pruned > 0, "no trial was pruned: the test did not exercise cancellation"
