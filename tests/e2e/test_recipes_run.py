"""Every recipe in recipes/ runs end to end, with identical results on sync and Dask."""

from __future__ import annotations

import pytest
from e2e_support import RECIPES

from engine import api

FAST = ["deploy=none"]  # packaging and serving have their own end-to-end tests


def outcome(record: dict) -> tuple:
    board = [(e["model"], e["params"], e["metrics"]) for e in record["leaderboard"]]
    data = {
        k: v for k, v in record["data"].items() if k not in ("quarantine_path", "failures_path")
    }
    return board, record["winner"]["model"], record["test_metrics"], data


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_same_results_on_sync_and_dask(
    recipe: str, sous_home, tmp_path, monkeypatch
) -> None:
    sync = api.run(api.validate(recipe, [*FAST, "cluster=sync"]))
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "other-home"))
    dask = api.run(api.validate(recipe, [*FAST, "cluster=local"]))
    assert sync["status"] == dask["status"] == "succeeded"
    assert outcome(sync) == outcome(dask)
    assert sync["leaderboard"] and sync["test_metrics"]
    assert not any(s["cached"] for s in dask["steps"])


def test_unchanged_rerun_is_fully_cached(sous_home) -> None:
    first = api.run(api.validate("iris", FAST))
    second = api.run(api.validate("iris", FAST))
    assert all(s["cached"] for s in second["steps"])
    assert [s["key"] for s in first["steps"]] == [s["key"] for s in second["steps"]]
    assert outcome(first) == outcome(second)
    assert second["cost"]["cpu_s"] == 0.0


def test_changed_param_recomputes_only_that_model(sous_home) -> None:
    api.run(api.validate("iris", [*FAST, "cluster=sync"]))
    second = api.run(api.validate("iris", [*FAST, "cluster=sync", "models.rf.n_estimators=7"]))
    ran = {s["name"] for s in second["steps"] if not s["cached"]}
    assert {"fit:rf:t0", "trial:rf:t0", "select"} <= ran
    assert not any(n.startswith(("load:", "fit:logreg", "split", "validate")) for n in ran)


def test_run_record_has_the_documented_fields(sous_home) -> None:
    record = api.run(api.validate("iris", [*FAST, "cluster=sync"]))
    for field in (
        "run_id",
        "recipe",
        "status",
        "started_at",
        "finished_at",
        "config",
        "leaderboard",
        "winner",
        "test_metrics",
        "bento",
        "steps",
        "data",
        "cost",
    ):
        assert field in record, field
    assert set(record["winner"]) >= {"model", "params", "metrics"}
    for step in record["steps"]:
        assert set(step) >= {"name", "key", "cached", "wall_s", "cpu_s", "peak_mem_mb"}
    assert record["config"]["name"] == "iris"
    assert record["data"]["rows_out"] == 150


def test_runs_show_prints_data_profile_and_consumers(sous_home, capsys) -> None:
    from engine.cli import main

    record = api.run(api.validate("churn", [*FAST, "cluster=sync"]))
    capsys.readouterr()
    assert main(["runs", "show", record["run_id"]]) == 0
    out = capsys.readouterr().out
    assert "quarantined 18" in out
    assert "data profile (1982 rows)" in out and "monthly_charges" in out
    assert "top consumers:" in out and "report:" in out
    assert record["profile"]["columns"]["age"]["numeric"]["min"] >= 0
    ops = [step["op"] for step in record["data"]["steps"]]
    assert any(op.startswith("join") for op in ops) and any(op.startswith("asof") for op in ops)
    assert all(step["rows_in"] >= 0 and step["rows_out"] >= 0 for step in record["data"]["steps"])
    assert "rows" in out.split("data:")[1].split("leaderboard")[0]
