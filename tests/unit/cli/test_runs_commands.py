"""`sous runs`: filters, compact JSON, ids by prefix or random suffix (ambiguous refused),
--limit on the leaderboard, formatted leaderboards, compare; `sous models ls`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.cli import main
from engine.home import db_url
from engine.store.runs import RunsDB


def _record(run_id: str, recipe: str, status: str, f1: float, day: int, **extra: Any) -> dict:
    return {
        "run_id": run_id,
        "recipe": recipe,
        "status": status,
        "started_at": f"2026-11-{day:02d}T10:00:00.000+00:00",
        "finished_at": f"2026-11-{day:02d}T10:01:00.000+00:00",
        "select_metric": "f1",
        "config": {"name": recipe, "split": {"test_size": 0.2 if day % 2 else 0.3}, "seed": 7},
        "winner": {"model": "rf", "params": {"n_estimators": 50}, "metrics": {"f1": f1}},
        "test_metrics": {"f1": f1 - 0.01, "accuracy": 0.9},
        "leaderboard": [
            {
                "model": "rf",
                "params": {"n_estimators": 50},
                "metrics": {"f1": f1, "accuracy": 0.9999999999999999},
                "metrics_std": {"f1": 0.0123, "accuracy": 0.0},
                "rank": 1,
                "tied": False,
            },
            {
                "model": "logreg",
                "params": {"C": 1.0},
                "metrics": {"f1": f1 - 0.1, "accuracy": 0.8},
                "metrics_std": {"f1": 0.02, "accuracy": 0.01},
                "rank": 2,
                "tied": False,
            },
        ],
        **extra,
    }


@pytest.fixture
def runs(tmp_path, monkeypatch) -> list[dict]:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    db = RunsDB(db_url())
    records = [
        _record("20261101-100000-aaa111", "iris", "succeeded", 0.95, 1),
        _record("20261102-100000-aab222", "iris", "failed", 0.50, 2),
        _record("20261103-100000-bbb333", "churn", "succeeded", 0.85, 3),
        _record(
            "20261104-100000-ccc444",
            "iris",
            "succeeded",
            0.91,
            4,
            drift_report="/tmp/home/runs/x/drift.html",
        ),
    ]
    for r in records:
        db.start(r)
    return records


def _json(capsys) -> Any:
    return json.loads(capsys.readouterr().out)


def test_ls_filters(runs, capsys) -> None:
    assert main(["runs", "ls", "--json", "--recipe", "iris"]) == 0
    assert [r["run_id"][-6:] for r in _json(capsys)] == ["ccc444", "aab222", "aaa111"]
    assert main(["runs", "ls", "--json", "--status", "failed"]) == 0
    assert [r["run_id"][-6:] for r in _json(capsys)] == ["aab222"]
    assert main(["runs", "ls", "--json", "--where", "f1>0.9"]) == 0
    assert [r["run_id"][-6:] for r in _json(capsys)] == ["ccc444", "aaa111"]
    assert main(["runs", "ls", "--json", "--where", "f1>0.9,test.f1>=0.94"]) == 0
    assert [r["run_id"][-6:] for r in _json(capsys)] == ["aaa111"]
    assert main(["runs", "ls", "--json", "--since", "2026-11-03"]) == 0
    assert [r["run_id"][-6:] for r in _json(capsys)] == ["ccc444", "bbb333"]
    assert main(["runs", "ls", "--json", "--limit", "1", "--recipe", "iris"]) == 0
    assert len(_json(capsys)) == 1


def test_a_malformed_where_is_a_user_error(runs, capsys) -> None:
    assert main(["runs", "ls", "--where", "f1 about 0.9"]) == 2
    assert "METRIC OP NUMBER" in capsys.readouterr().err


def test_ls_json_is_a_compact_summary_and_full_gives_records(runs, capsys) -> None:
    assert main(["runs", "ls", "--json"]) == 0
    first = _json(capsys)[0]
    assert "leaderboard" not in first and "config" not in first
    assert (first["winner"], first["metric"], first["score"]) == ("rf", "f1", 0.91)
    assert main(["runs", "ls", "--json", "--full"]) == 0
    assert "leaderboard" in _json(capsys)[0]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("20261103-100000-bbb333", id="whole"),
        pytest.param("20261103", id="prefix"),
        pytest.param("bbb333", id="suffix"),
        pytest.param("bbb", id="suffix-prefix"),
    ],
)
def test_ids_by_unique_prefix_or_random_suffix(runs, capsys, text) -> None:
    assert main(["runs", "show", text, "--json"]) == 0
    assert _json(capsys)["run_id"] == "20261103-100000-bbb333"


def test_an_ambiguous_id_is_refused_with_the_candidates(runs, capsys) -> None:
    assert main(["runs", "show", "aa"]) == 2
    err = capsys.readouterr().err
    assert "ambiguous" in err
    assert "20261101-100000-aaa111" in err and "20261102-100000-aab222" in err
    assert main(["runs", "show", "2026110"]) == 2
    assert "4 runs match" in capsys.readouterr().err


def test_leaderboard_limit_rank_metric_first_and_formatting(runs, capsys) -> None:
    assert main(["runs", "leaderboard", "ccc", "--json", "--limit", "1"]) == 0
    assert len(_json(capsys)) == 1
    assert main(["runs", "leaderboard", "ccc"]) == 0
    out = capsys.readouterr().out
    header, _, winner, second, *notes = out.splitlines()
    assert header.split()[:4] == ["rank", "run", "model", "f1"]  # the selected metric first
    assert winner.startswith("*1") and not second.startswith("*")
    assert "0.91 ± 0.0123" in winner and "0.9999999999999999" not in out and "1 ± 0" in winner
    assert "*: the winner" in "\n".join(notes)


def test_leaderboard_lists_the_trials_stopped_before_selection(runs, capsys) -> None:
    """Trials successive halving eliminated and trials CV pruning stopped are not ranked,
    but the leaderboard shows them under the ranking: where each stopped, the last score
    the search saw, its params. A record from before scores were kept shows a dash."""
    db = RunsDB(db_url())
    pruned = [
        {"model": "rf", "trial": 3, "iteration": 0, "n_resources": 120, "score": 0.71,
         "params": {"max_depth": 2}},
        {"model": "rf", "trial": 5, "fold": 1, "score": 0.6543, "params": {"max_depth": 9}},
        {"model": "logreg", "trial": 1},
    ]  # fmt: skip
    db.start(_record("20261105-100000-ddd555", "iris", "succeeded", 0.9, 5, pruned=pruned))
    assert main(["runs", "leaderboard", "ddd555"]) == 0
    out = capsys.readouterr().out
    _, below = out.split("not ranked: 3 trial(s) stopped before selection\n")
    header, _, halved, cv_pruned, old = below.splitlines()
    assert header.split()[:6] == ["run", "model", "trial", "stopped", "f1", "params"]
    assert "halving iteration 0 (120 rows)" in halved and "0.71" in halved
    assert "max_depth=2" in halved
    assert "pruned after fold 1" in cv_pruned and "0.6543" in cv_pruned
    assert "max_depth=9" in cv_pruned
    assert old.split()[1:] == ["logreg", "t1", "pruned", "-", "-"]
    # a halving over a model param says the param's value, not rows
    param = {"name": "iris", "sweep": {"halving": {"resource": "n_estimators"}}}
    stopped = [{"model": "rf", "trial": 0, "iteration": 1, "n_resources": 9, "score": 0.5,
                "params": {"n_estimators": 9}}]  # fmt: skip
    db.start(_record("20261106-100000-eee666", "iris", "ok", 0.9, 6, config=param, pruned=stopped))
    assert main(["runs", "leaderboard", "eee666"]) == 0
    assert "halving iteration 1 (n_estimators=9)" in capsys.readouterr().out
    # a run with nothing stopped prints no such table; --json stays the ranked list
    assert main(["runs", "leaderboard", "ccc"]) == 0
    assert "not ranked" not in capsys.readouterr().out
    assert main(["runs", "leaderboard", "ddd555", "--json"]) == 0
    assert [e["model"] for e in _json(capsys)] == ["rf", "logreg"]


def test_runs_show_prints_a_retrains_drift_report(runs, capsys) -> None:
    assert main(["runs", "show", "ccc444"]) == 0
    assert "drift report (why this retrain ran): /tmp/home/runs/x/drift.html" in (
        capsys.readouterr().out
    )


def test_compare_shows_config_differences_and_metrics(runs, capsys) -> None:
    assert main(["runs", "compare", "aaa111", "aab222", "--json"]) == 0
    diff = _json(capsys)
    assert diff["config_diff"] == {"split.test_size": [0.2, 0.3]}
    assert [r["score"] for r in diff["runs"]] == [0.95, 0.5]
    assert main(["runs", "compare", "aaa111", "aab222", "bbb333"]) == 0
    out = capsys.readouterr().out
    assert "split.test_size" in out and "name" in out and "test f1" in out
    assert main(["runs", "compare", "aaa111"]) == 2
    assert "two run IDs or more" in capsys.readouterr().err


def test_models_ls_without_a_name_lists_every_model(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    assert main(["models", "ls"]) == 0
    assert "no models yet" in capsys.readouterr().out
    assert main(["models", "ls", "--json"]) == 0
    assert _json(capsys) == []


def test_models_ls_lists_every_model_with_its_aliases_and_limits(
    tmp_path, monkeypatch, capsys
) -> None:
    from engine.store import registry

    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    for name, versions in (("iris", ["v1", "v2", "v3"]), ("churn", ["c1"])):
        for v in versions:
            registry.record_version(
                name, v, model_tag=f"{name}:{v}", bento_tag=None, metrics={"f1": 0.9}, labels={}
            )
    registry.promote("iris", "v2", "staging")
    assert main(["models", "ls", "--json"]) == 0
    summary = {m["name"]: m for m in _json(capsys)}
    assert summary["iris"]["versions"] == 3 and summary["iris"]["staging"] == "v2"
    assert summary["churn"]["latest"] == "c1"
    assert main(["models", "ls", "--limit", "1", "--json"]) == 0
    assert len(_json(capsys)) == 1
    assert main(["models", "ls", "iris", "--limit", "2", "--json"]) == 0
    assert [v["version"] for v in _json(capsys)] == ["v2", "v3"]
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "model",
        "versions",
        "latest",
        "created",
        "production",
        "staging",
    ]
    assert main(["models", "history", "iris", "--limit", "1", "--json"]) == 0
    assert [e["version"] for e in _json(capsys)] == ["v2"]


def test_one_validation_split_shows_no_spread(capsys) -> None:
    from engine.show import leaderboard_table

    entry = {"run_id": "r", "model": "rf", "params": {}, "metrics": {"f1": 0.5}}
    leaderboard_table([{**entry, "metrics_std": {"f1": 0.0}, "folds": [{"f1": 0.5}]}], "f1")
    assert "±" not in capsys.readouterr().out
    folds = [{"f1": 0.4}, {"f1": 0.6}]
    leaderboard_table([{**entry, "metrics_std": {"f1": 0.1}, "folds": folds}], "f1")
    assert "0.5 ± 0.1" in capsys.readouterr().out
