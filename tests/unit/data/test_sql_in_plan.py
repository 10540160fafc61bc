"""SQL sources in plans and runs (issue 11): `sous plan` runs no user query, a run reads each
query once and keys what reads it on the rows it read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

RECIPE = """
defaults:
  - /cluster: sync
  - /deploy: none
  - _self_
name: crm
task: classification
target: y
data:
  sources:
    crm: {{kind: sql, path: {db}, query: "select x1, x2, y from t"}}
split: {{kind: stratified, test_size: 0.25, valid_size: 0.25}}
models:
  logreg: {{_target_: sklearn.linear_model.LogisticRegression, max_iter: 200}}
select: {{metric: accuracy}}
"""


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (x1 real, x2 real, y int)")
        conn.executemany(
            "insert into t values (?, ?, ?)",
            [(i / 10, (i * 7 % 11) / 10, int(i % 3 == 0)) for i in range(80)],
        )
    path = tmp_path / "crm.yaml"
    path.write_text(RECIPE.format(db=db))
    return path


@pytest.fixture
def queries() -> Iterator[list[str]]:
    """The user's queries that any SQLAlchemy engine sends, in this test."""
    seen: list[str] = []

    def count(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
        if "from t" in statement:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    yield seen
    event.remove(Engine, "before_cursor_execute", count)


def test_a_plan_runs_no_user_query(recipe: Path, queries: list[str]) -> None:
    from engine import api

    static, compiled = api.static_plan(api.validate(str(recipe)))
    assert queries == []
    (load,) = static.at_run_time
    assert static.plan.nodes[load].step == "load:crm"
    assert not compiled.cached


def test_the_plan_command_shows_the_query_fingerprinted_at_run_time(
    recipe: Path, queries: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli import main

    assert main(["plan", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "fingerprinted at run time" in out
    assert queries == []


def test_a_run_reads_the_query_once_and_a_rerun_reuses_what_did_not_change(
    recipe: Path, queries: list[str]
) -> None:
    from engine import api

    spec = api.validate(str(recipe))
    first = api.run(spec, executor="sync")
    assert queries == ["select x1, x2, y from t"]
    load = next(s for s in first["steps"] if s["name"] == "load:crm")
    assert not load["cached"]  # this run read it
    second = api.run(spec, executor="sync")
    assert len(queries) == 2  # a rerun must read to know the rows did not change
    assert [s for s in second["steps"] if not s["cached"] and s["name"] != "load:crm"] == []
    assert second["test_metrics"] == first["test_metrics"]

    with sqlite3.connect(recipe.parent / "crm.db") as conn:
        conn.execute("update t set y = 1 - y where x1 < 1")
    third = api.run(spec, executor="sync")
    assert len(queries) == 3
    recomputed = {s["name"] for s in third["steps"] if not s["cached"]}
    assert {"load:crm", "validate", "split"} <= recomputed  # the rows changed: so does the key
