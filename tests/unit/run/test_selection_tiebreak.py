"""Selection never picks by accident: ties on the selection metric go to the better
``select.tiebreak`` (log loss / MAE by default), then to the cheaper fit; the leaderboard
shows the tie."""

from __future__ import annotations

import pytest

from engine import api
from engine.errors import RecipeError
from engine.steps.flow import TrialResult, select


def trial(name: str, f1: float, log_loss: float, fit_s: float = 1.0) -> TrialResult:
    return TrialResult(name, {}, {"f1": f1, "log_loss": log_loss}, fit_s=fit_s)


def test_ties_go_to_the_tiebreak_then_to_the_cheaper_fit_never_to_list_order() -> None:
    trials = [
        trial("first_listed", 0.9, 0.50),
        trial("calibrated", 0.9, 0.10, fit_s=5.0),
        trial("calibrated_cheaper", 0.9, 0.10, fit_s=2.0),
        trial("worse", 0.8, 0.01),
    ]
    sel = select(trials, metric="f1", greater_is_better=True, tiebreak="log_loss")
    assert [t.model for t in sel.leaderboard] == [
        "calibrated_cheaper",
        "calibrated",
        "first_listed",
        "worse",
    ]
    assert sel.ranks == (1, 1, 1, 4)
    assert [sel.tied(i) for i in range(4)] == [True, True, True, False]


def test_a_nan_tiebreak_loses_and_float_noise_is_a_tie() -> None:
    trials = [trial("nan", 0.9, float("nan")), trial("ok", 0.9 + 1e-15, 0.3)]
    sel = select(trials, metric="f1", greater_is_better=True, tiebreak="log_loss")
    assert sel.winner.model == "ok" and sel.ranks == (1, 1)


@pytest.fixture
def home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")


def test_recipes_get_a_proper_scoring_rule_as_tiebreak_and_bad_ones_are_refused(home) -> None:
    assert api.validate("iris").select.tiebreak == "log_loss"
    assert api.validate("diabetes").select.tiebreak == "mae"
    assert api.validate("iris", ["+select.tiebreak=accuracy"]).select.tiebreak == "accuracy"
    with pytest.raises(RecipeError) as err:
        api.validate("iris", ["+select.tiebreak=log_los"])
    assert "select.tiebreak" in str(err.value)


def test_a_grid_on_iris_picks_the_best_calibrated_of_the_tied_trials(home) -> None:
    """`sous run iris sweep=grid` used to pick logreg C=0.01 (the worst log loss of 13
    trials tied on f1) because ties fell to recipe order."""
    record = api.run(api.validate("iris", ["sweep=grid", "cluster=sync", "deploy=none"]))
    board = record["leaderboard"]
    tied = [row for row in board if row["tied"] and row["rank"] == 1]
    assert len(tied) > 1
    winner = record["winner"]
    assert winner["params"] != {"C": 0.01, "max_iter": 500}
    assert winner["metrics"]["log_loss"] == min(r["metrics"]["log_loss"] for r in tied)
