"""The run record's public JSON matches docs/run-record.schema.json: real records of
succeeded and failed runs (as returned and as read back from the runs DB), and a typed
record with every release part filled in."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from engine import api
from engine.errors import SousError
from engine.run.record import (
    BuildResult,
    Cost,
    DataSummary,
    GateResult,
    LeaderboardRow,
    OutOfCore,
    PrunedTrial,
    ReleaseOutcome,
    Results,
    RunRecord,
    SmokeResult,
    StepRow,
    TradeoffPoint,
    TradeoffResult,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "run-record.schema.json").read_text()
)


def check(record: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(record)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_a_real_run_and_its_stored_record_match_the_schema() -> None:
    from engine.home import db_url
    from engine.store.runs import RunsDB

    record = api.run(api.validate("iris", ["cluster=sync", "deploy=none"]))
    check(record)
    assert record["status"] == "succeeded" and record["gate"]["passed"]
    assert record["data"]["sources"] == {"iris": {"rows": 150}}
    stored = RunsDB(db_url()).last()
    check(stored)
    assert stored["run_id"] == record["run_id"]


def test_a_failed_run_record_matches_the_schema(monkeypatch) -> None:
    from engine.home import db_url
    from engine.steps import flow
    from engine.store.runs import RunsDB

    def broken_select(trials, *, metric, greater_is_better):  # type: ignore[no-untyped-def]
        raise ValueError("selection broke")

    monkeypatch.setattr(flow, "select", broken_select)
    spec = api.validate("iris", ["cluster=sync", "deploy=none"])
    with pytest.raises(SousError):
        api.run(spec)
    failed = RunsDB(db_url()).last()
    check(failed)
    assert failed["status"] == "failed" and failed["error"]
    assert failed["failed_step"] == "select"  # the web UI's plan colours it
    assert "cost" not in failed and "gate" not in failed


def test_every_typed_part_has_its_place_in_the_schema() -> None:
    row = LeaderboardRow("rf", {"n_estimators": 10}, {"f1": 0.9, "log_loss": float("nan")})
    record = RunRecord(
        run_id="r1",
        recipe="iris",
        started_at="2026-01-01T00:00:00Z",
        config={"name": "iris"},
        recipe_file=None,
        log="/tmp/run.log",
        pid=1,
        host="h",
        status="succeeded",
        finished_at="2026-01-01T00:01:00Z",
        steps=(
            StepRow(
                "fit:rf:t0",
                "fit.rf-abc",
                cached=False,
                wall_s=1.0,
                rows=None,
                worker="tcp://127.0.0.1:4000",
                started_s=0.5,
            ),
        ),
        results=Results(
            leaderboard=(row,),
            select_metric="f1",
            test_metrics={"f1": 0.8},
            report=None,
            data=DataSummary({"big": 10}, 10, 9, 1, "/q", out_of_core=OutOfCore(2, 5, "/g")),
            profile=None,
            tradeoff=TradeoffResult(
                "f1",
                True,
                0.01,
                False,
                {"latency_ms": 1.0},
                100,
                5,
                (TradeoffPoint("rf", {}, 0.9, 0.02, 1.5, 2.0, 0.02, True, True),),
            ),
        ),
        pruned=(
            PrunedTrial("rf", 3),
            PrunedTrial("rf", 4, 0, 120, score=0.7, params={"max_depth": 2}),
            PrunedTrial("rf", 5, fold=1, score=None, params={"max_depth": 9}),
        ),
        release=ReleaseOutcome(
            GateResult(True, (), "3"),
            bento="iris:abc",
            model_version="abc",
            smoke=SmokeResult(True, 4.2, 32, "ok"),
            promoted="staging",
            build=BuildResult("iris:abc", "/b/Dockerfile", "/b/iris.bento"),
            steps=(StepRow("package", "package-1", cached=True),),
        ),
        cost=Cost(1.0, 2.0, 0.001, 0.0001, "USD", 0.05, 0.01),
    )
    public = record.to_json()
    check(public)
    assert public["winner"]["metrics"]["log_loss"] is None  # NaN is not JSON
    assert [s["name"] for s in public["steps"]] == ["fit:rf:t0", "package"]
    assert public["steps"][0]["worker"] == "tcp://127.0.0.1:4000"
    assert public["steps"][0]["started_s"] == 0.5
    assert public["steps"][1]["worker"] is None and public["steps"][1]["started_s"] is None
    assert public["promoted"] == "staging" and public["build"]["archive"] == "/b/iris.bento"
    assert public["tradeoff"]["front"] == ["rf"] and public["tradeoff"]["chosen"] == "rf"
    assert public["pruned"] == [
        {"model": "rf", "trial": 3},
        {"model": "rf", "trial": 4, "iteration": 0, "n_resources": 120, "score": 0.7,
         "params": {"max_depth": 2}},
        {"model": "rf", "trial": 5, "fold": 1, "score": None, "params": {"max_depth": 9}},
    ]  # fmt: skip
    assert json.loads(json.dumps(public)) == public


def _ran(record: dict) -> list[dict]:
    return [s for s in record["steps"] if not s["cached"]]


def _duration(record: dict) -> float:
    from datetime import datetime

    start, end = (datetime.fromisoformat(record[k]) for k in ("started_at", "finished_at"))
    return (end - start).total_seconds()


def test_step_rows_say_where_and_when_they_ran_in_process() -> None:
    record = api.run(api.validate("iris", ["cluster=sync"]))
    check(record)
    ran = _ran(record)
    assert ran and {s["worker"] for s in ran if s["name"] not in ("package", "smoke")} == {"sync"}
    assert {s["worker"] for s in ran if s["name"] in ("package", "smoke")} == {"driver"}
    for s in ran:  # inside the run, in plan order for the nodes computed one at a time
        assert 0 <= s["started_s"] <= s["started_s"] + s["wall_s"] <= _duration(record) + 0.01
    nodes = [s for s in ran if s["worker"] == "sync"]
    assert [s["started_s"] for s in nodes] == sorted(s["started_s"] for s in nodes)
    again = api.run(api.validate("iris", ["cluster=sync"]))
    assert all(s["worker"] is None and s["started_s"] is None for s in again["steps"])


def test_step_rows_name_the_dask_worker_of_each_node_on_a_local_cluster() -> None:
    """A real LocalCluster of two worker processes: every computed node's row names the
    worker that ran it (one of the cluster's), including the nodes of a chain."""
    record = api.run(api.validate("iris", ["cluster=local", "cluster.workers=2", "deploy=none"]))
    check(record)
    ran = _ran(record)
    workers = {s["worker"] for s in ran}
    assert ran and all(w.startswith("tcp://127.0.0.1:") for w in workers), workers
    assert 1 <= len(workers) <= 2
    for s in ran:
        assert 0 <= s["started_s"] <= _duration(record)
    by_name = {s["name"]: s for s in ran}
    load = next(s for n, s in by_name.items() if n.startswith("load"))
    assert all(load["started_s"] <= s["started_s"] for s in ran)  # the data comes first
