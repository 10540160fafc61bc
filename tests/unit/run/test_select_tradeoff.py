"""``select.tradeoff``: the cheapest model within a tolerance of the best score is served;
the Pareto front of score against cost goes into the record, the report and `sous runs show`;
changing only the tradeoff re-runs the choice, never a fit or a measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from engine import api
from engine.errors import RecipeError, UserError
from engine.specs import TradeoffSpec
from engine.steps.flow import TrialResult, select
from engine.steps.tradeoff import (
    Measured,
    candidate_rows,
    choose,
    cost_of,
    pareto_front,
    trade_off,
    within,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "run-record.schema.json").read_text()
)

RECIPE = """\
defaults:
  - /source@data.sources.iris: iris
  - /split: stratified
  - /cluster: sync
  - /deploy: none
  - _self_

name: trade
task: classification
target: target
seed: 7
split: {test_size: 0.3, valid_size: 0.3}
models:
  big:
    _target_: sklearn.ensemble.RandomForestClassifier
    n_estimators: 60
    n_jobs: 1
  small:
    _target_: sklearn.tree.DecisionTreeClassifier
    max_depth: 1
select:
  metric: f1
  tradeoff: {tolerance: 0.5, cost: {size_mb: 1.0}}
"""


# -- the rule, on numbers ------------------------------------------------------------------


def test_the_front_is_exactly_the_non_dominated_points() -> None:
    points = [
        (0.95, 10.0),  # best score: on the front
        (0.90, 2.0),  # cheaper, worse: on the front
        (0.90, 3.0),  # dominated by (0.90, 2.0): same score, dearer
        (0.80, 5.0),  # dominated by (0.90, 2.0): worse and dearer
        (0.70, 1.0),  # cheapest: on the front
        (0.95, 10.0),  # a twin of the first: neither dominates the other
        (0.96, 12.0),  # best score, dearest: on the front
    ]
    assert pareto_front(points) == (0, 1, 4, 5, 6)
    assert pareto_front([]) == ()
    assert pareto_front([(0.5, 1.0)]) == (0,)


def test_tolerance_absolute_relative_and_lower_is_better() -> None:
    absolute = TradeoffSpec(tolerance=0.02)
    assert within(0.93, 0.95, absolute, True)
    assert not within(0.92, 0.95, absolute, True)
    relative = TradeoffSpec(tolerance=0.1, relative=True)  # 10% of rmse 2.0 = 0.2
    assert within(2.2, 2.0, relative, False)
    assert not within(2.21, 2.0, relative, False)
    assert within(1.5, 2.0, relative, False)  # better is always within


def test_choose_takes_the_cheapest_within_tolerance_else_the_best() -> None:
    scores, costs = [0.95, 0.94, 0.80], [10.0, 1.0, 0.1]
    assert choose(scores, costs, TradeoffSpec(tolerance=0.02), True) == 1
    assert choose(scores, costs, TradeoffSpec(tolerance=0.2), True) == 2
    assert choose(scores, costs, TradeoffSpec(tolerance=0.0), True) == 0
    # equal costs: the better score
    assert choose([0.95, 0.94], [1.0, 1.0], TradeoffSpec(tolerance=0.1), True) == 0
    assert cost_of({"latency_ms": 2.0, "size_mb": 0.5}, 0.1, 4.0, 99.0) == pytest.approx(2.2)


def _trial(model: str, f1: float, **params: int) -> TrialResult:
    return TrialResult(model, params, {"f1": f1, "log_loss": 1 - f1})


def test_candidates_are_each_models_best_trial_and_the_winner_is_the_choice() -> None:
    trials = [
        _trial("rf", 0.95, n=100),
        _trial("rf", 0.94, n=10),
        _trial("lr", 0.93),
        _trial("nan", float("nan")),
    ]
    sel = select(trials, metric="f1", greater_is_better=True, tiebreak="log_loss")
    rows = candidate_rows(sel)
    assert [sel.leaderboard[r].model for r in rows] == ["rf", "lr"]  # rf n=10 is not one
    measured = (Measured(0.5, 8.0, 100), Measured(0.01, 0.01, 100))
    chosen = trade_off(
        sel,
        measured=measured,
        train_cpu_s=(3.0, 0.1),
        spec=TradeoffSpec(tolerance=0.03, cost={"size_mb": 1.0, "train_cpu_s": 1.0}),
    )
    assert chosen.winner.model == "lr" and chosen.leaderboard == sel.leaderboard
    t = chosen.tradeoff
    assert t is not None and t.candidates[t.chosen].model == "lr"
    assert [c.cost for c in t.candidates] == [pytest.approx(11.0), pytest.approx(0.11)]
    assert all(c.on_front for c in t.candidates)
    strict = trade_off(
        sel,
        measured=measured,
        train_cpu_s=(3.0, 0.1),
        spec=TradeoffSpec(tolerance=0.01, cost={"size_mb": 1.0}),
    )
    assert strict.winner.model == "rf"


# -- the recipe ----------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    recipe = tmp_path / "trade.yaml"
    recipe.write_text(RECIPE)
    return recipe


@pytest.mark.parametrize(
    ("override", "where", "says"),
    [
        ("select.tradeoff.tolerence=0.1", "select.tradeoff.tolerence", "did you mean 'tolerance'"),
        ("+select.tradeoff.cost.latency=1", "select.tradeoff.cost.latency", "latency_ms"),
        ("select.tradeoff.tolerance=-1", "select.tradeoff.tolerance", "[0, inf)"),
        ("select.tradeoff.cost={size_mb: 0}", "select.tradeoff.cost", "weight > 0"),
        ("+select.tradeoff.relative=true", "select.tradeoff.tolerance", "[0, 1)"),
    ],
)
def test_bad_tradeoffs_are_refused_with_where_and_a_fix(home, override, where, says) -> None:
    overrides = [override]
    if "relative" in override:
        overrides.append("select.tradeoff.tolerance=1.5")
    with pytest.raises(RecipeError) as err:
        api.validate(str(home), overrides)
    assert isinstance(err.value, UserError)
    text = str(err.value)
    assert where in text and says in text


def test_a_missing_tolerance_exits_2_naming_the_key(home, tmp_path) -> None:
    home.write_text(RECIPE.replace("tolerance: 0.5, ", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "validate", str(home)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "select.tradeoff.tolerance" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_small_model_within_tolerance_is_served_then_the_best_outside_it(home) -> None:
    loose = api.run(api.validate(str(home)))
    jsonschema.Draft202012Validator(SCHEMA).validate(loose)
    board = loose["leaderboard"]
    assert [row["model"] for row in board] == ["big", "small"]  # the forest scores best
    assert board[0]["metrics"]["f1"] - board[1]["metrics"]["f1"] < 0.5
    t = loose["tradeoff"]
    assert loose["winner"]["model"] == "small" and t["chosen"] == "small"
    assert [c["model"] for c in t["candidates"]] == ["big", "small"]
    big, small = t["candidates"]
    assert small["size_mb"] < big["size_mb"] and small["cost"] == small["size_mb"]
    assert big["latency_ms"] > 0 and big["train_cpu_s"] >= 0 and t["batch_rows"] == 45
    assert t["front"] == ["big", "small"]
    report = Path(loose["report"]).read_text()
    assert 'class="tradeoff"' in report and 'class="chosen"' in report
    assert "small (chosen)" in report and "Pareto front" in report

    # a static view (sous plan, the run's "anything to compute?" check) reads the cached
    # choice: its refit is the small model's
    from engine.run.assemble import Assembler

    static = Assembler(api.validate(str(home))).static()
    refit = static.plan.nodes[static.plan.outputs["model"]]
    assert refit.params["model"].name == "small"

    # only the tolerance changes: the fits, refits and measurements are reused
    strict = api.run(api.validate(str(home), ["select.tradeoff.tolerance=0.01"]))
    assert strict["winner"]["model"] == "big" and strict["tradeoff"]["chosen"] == "big"
    ran = {s["name"] for s in strict["steps"] if not s["cached"]}
    assert ran == {"tradeoff", "test"}, ran
    measured = {c["model"]: c["latency_ms"] for c in strict["tradeoff"]["candidates"]}
    assert measured == {c["model"]: c["latency_ms"] for c in t["candidates"]}


def test_runs_show_prints_the_front_and_marks_the_served_row(home, tmp_path) -> None:
    record = api.run(api.validate(str(home)))
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "runs", "show", record["run_id"]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "tradeoff: the cheapest within 0.5 of the best f1; cost = 1*size_mb" in out
    assert "*F  small" in out and "F   big" in out
    board = out.split("leaderboard:")[1].split("tradeoff:")[0]
    assert "*2" in board and "\n1 " in board  # the served row is starred, not the best
