"""`sous plan` goes through the run's one plan assembler, whatever the sweep."""

from __future__ import annotations

import json

import pytest

from engine import api
from engine.cli import main


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")


def test_plan_with_optuna_shows_trials_proposed_at_run_time(capsys) -> None:
    """Crash #4: `sous plan iris sweep=optuna` ended in a ValueError traceback."""
    assert main(["plan", "iris", "sweep=optuna"]) == 0
    out = capsys.readouterr().out
    assert "trial:logreg:*" in out and "trial:rf:*" in out
    assert "proposed at run time (optuna, up to 20 trials)" in out
    assert "Traceback" not in out
    assert main(["plan", "iris", "sweep=optuna", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    deferred = [r for r in rows if r.get("proposed") == "at run time"]
    assert {r["step"] for r in deferred} == {"trial:logreg:*", "trial:rf:*"}
    assert {r["step"] for r in rows if r["key"]} >= {"load:iris", "validate", "split"}


def test_a_static_sweep_plans_every_trial_and_the_final_nodes() -> None:
    static, compiled = api.static_plan(api.validate("iris", ["sweep=grid"]))
    assert not static.deferred
    assert {"selection", "model", "test"} <= set(static.plan.outputs)
    assert len(set(static.plan.trials)) == 5 + 3 * 3  # logreg C x5, rf n_estimators x depth
    assert compiled.to_compute  # nothing cached in a fresh home


def test_the_plan_names_its_roles_without_parsing_step_names() -> None:
    plan = api.static_plan(api.validate("iris"))[0].plan
    assert set(plan.sources) == {"iris"}
    assert plan.nodes[plan.sources["iris"]].kind == "source"
    assert plan.nodes[plan.roles["integrate"]].func.endswith(":integrate")


def test_a_run_plan_holds_only_the_nodes_of_its_own_trials() -> None:
    """The cache check and the driver share one assembler: trials the static view planned
    but the run never started (a spent budget) are not in the run's plan."""
    from engine.run.assemble import Assembler

    assembler = Assembler(api.validate("iris", ["sweep=grid"]))
    static = assembler.static().plan
    entry = assembler.trials()[0]
    first = entry.source.ask()
    assert first is not None
    key, fits = entry.planner.plan(first.number, first.params)
    plan = assembler.plan(assembler.final([key]), [key])
    assert plan.trials == (key,) and set(fits) <= set(plan.nodes)
    others = set(static.trials) - {key}
    assert others and not others & set(plan.nodes)
    assert set(plan.sources.values()) <= set(plan.nodes)


def test_the_refit_is_keyed_on_the_winner_once_the_selection_is_known() -> None:
    """Before selecting, a plan's refit is provisional (keyed on the selection node); a run
    keys it on the winner's fit, and a static view that finds the selection in the cache
    shows exactly the run's refit and test, all cached (an unchanged rerun starts nothing)."""
    from engine.execution.compile import compile_plan
    from engine.home import cache_dir
    from engine.run.assemble import Assembler
    from engine.store.cache import ArtifactCache

    spec = api.validate("iris", ["cluster=sync", "deploy=none"])
    before = Assembler(spec).static().plan
    assert before.nodes[before.outputs["model"]].func == "engine.steps.flow:refit_winner"
    record = api.run(spec)
    keys = {s["name"]: s["key"] for s in record["steps"]}
    cache = ArtifactCache(cache_dir())
    after = Assembler(spec, cache=cache).static().plan
    assert after.nodes[after.outputs["model"]].func == "engine.steps.flow:refit_fit"
    assert (after.outputs["model"], after.outputs["test"]) == (keys["refit"], keys["test"])
    assert compile_plan(after, cache, after.outputs.values()).to_compute == ()
    assert keys["refit"] != before.outputs["model"]


def test_a_sweeps_dask_task_prefixes_do_not_grow_with_its_trials() -> None:
    """Node keys are Dask's task keys, and Dask keeps state per task prefix (the key's
    readable part): a prefix per trial made every task transition on a worker cost more the
    more tasks it held. A sweep's nodes share a prefix per kind, model and fold."""
    from dask.utils import key_split

    def prefixes(depths: str) -> tuple[int, set[str]]:
        grid = f"models.rf.search.max_depth.choice={depths}"
        spec = api.validate("iris", ["sweep=grid", grid, "+cv.kind=stratified_kfold"])
        plan = api.static_plan(spec)[0].plan
        return len(plan.trials), {key_split(k) for k in plan.nodes}

    few, small = prefixes("[3]")
    many, large = prefixes("[2,3,4,5,6,null]")
    assert many > few
    assert large == small
    assert len(large) < 40  # the data nodes, then fits (a prefix per model and fold), trials
