"""A static sweep hands out its costliest fits first (issue 10: the last fits on every worker
are short ones, so the workers finish together); the order is deterministic, follows the
params' estimated cost, and changes no result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine import api
from engine.execution import packing
from engine.execution.sessions import SyncSession
from engine.models.cost import fit_cost, tree_depth
from engine.run import driver

RECIPE = """
name: lpt_sweep
task: classification
target: y
seed: 0
data:
  sources:
    table: {{kind: csv, path: {path}}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.1}}
cv: {{kind: stratified_kfold, folds: 2}}
models:
  rf:
    _target_: sklearn.ensemble.RandomForestClassifier
    n_estimators: 3
    n_jobs: 1
    search:
      max_depth: {{choice: {depths}}}
      min_samples_leaf: {{choice: {leaves}}}
sweep: {{strategy: grid}}
select: {{metric: accuracy}}
deploy: {{enabled: false}}
"""


def write_recipe(tmp_path: Path, depths: str, leaves: str) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["y"] = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    frame.to_csv(tmp_path / "data.csv", index=False)
    path = tmp_path / "lpt_sweep.yaml"
    path.write_text(RECIPE.format(path=tmp_path / "data.csv", depths=depths, leaves=leaves))
    return path


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    return write_recipe(tmp_path, "[2, null, 4]", "[3, 1]")


@pytest.fixture
def fit_order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fit steps in the order the session ran them (a SyncSession runs in order)."""
    ran: list[str] = []
    original = SyncSession.next_done

    def spy(self: SyncSession) -> Any:
        task = original(self)
        if task.mode == "compute" and task.node.step.startswith("fit:"):
            ran.append(task.node.step)
        return task

    monkeypatch.setattr(SyncSession, "next_done", spy)
    return ran


def _run(recipe: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("SOUS_HOME", str(home))
    return api.run(api.validate(str(recipe)), executor="sync")


def _by_params(record: dict[str, Any]) -> dict[str, Any]:
    keep = ("metrics", "metrics_std", "folds", "rank")
    return {
        json.dumps(row["params"], sort_keys=True): {k: row.get(k) for k in keep}
        for row in record["leaderboard"]
    }


def test_fit_cost_ranks_deeper_trees_and_smaller_leaves_first() -> None:
    deep, shallow = {"max_depth": None}, {"max_depth": 6}
    assert fit_cost(deep) > fit_cost({"max_depth": 14}) > fit_cost(shallow)
    assert fit_cost({"min_samples_leaf": 1}) > fit_cost({"min_samples_leaf": 32})
    assert fit_cost({"n_estimators": 32, **shallow}) == 2 * fit_cost(
        {"n_estimators": 16, **shallow}
    )
    # the depth limit caps an unlimited tree; a leaf budget too; a fraction is of the rows
    assert tree_depth({"max_depth": 6, "min_samples_leaf": 1}) == 6
    assert tree_depth({"max_leaf_nodes": 8}) < tree_depth({})
    assert tree_depth({"min_samples_leaf": 0.01}, rows=10_000) == tree_depth(
        {"min_samples_leaf": 100}, rows=10_000
    )
    assert tree_depth({"max_depth": -1}) == tree_depth({})  # LightGBM's "no limit"
    # a model without tree params: every trial costs the same (recipe order is kept)
    assert fit_cost({"C": 0.1}) == fit_cost({"C": 10.0}) == 1.0


def test_a_tree_sweep_runs_its_costliest_fits_first_in_a_fixed_order(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fit_order: list[str]
) -> None:
    _run(recipe, tmp_path / "a", monkeypatch)
    # grid order: t0 (2, 3), t1 (2, 1), t2 (None, 3), t3 (None, 1), t4 (4, 3), t5 (4, 1);
    # by cost: unlimited depth first (smaller leaves first), then depth 4, then depth 2;
    # a tie (same depth limit reached whatever the leaf) keeps grid order
    expected = ["t3", "t2", "t4", "t5", "t0", "t1"]
    trials = list(dict.fromkeys(step.split(":")[2] for step in fit_order))
    assert trials == expected
    first = list(fit_order)
    fit_order.clear()
    _run(recipe, tmp_path / "b", monkeypatch)  # a fresh home: the same order again
    assert fit_order == first


def test_the_order_changes_no_result(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fit_order: list[str]
) -> None:
    longest = _run(recipe, tmp_path / "longest", monkeypatch)
    ordered = list(fit_order)
    fit_order.clear()
    monkeypatch.setattr(driver, "longest_first", lambda sources: None)  # recipe order
    plain = _run(recipe, tmp_path / "plain", monkeypatch)
    assert fit_order != ordered  # the two runs did run the fits in different orders
    # trials tied on every metric are listed by measured fit time (engine/steps/flow.py),
    # whatever the order they ran in: compare each trial's row by its params
    assert _by_params(longest) == _by_params(plain)
    assert longest["winner"]["params"] == plain["winner"]["params"]
    assert longest["winner"]["metrics"] == plain["winner"]["metrics"]
    assert longest["test_metrics"] == plain["test_metrics"]


def test_the_progress_total_is_the_whole_sweep_from_the_first_line(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Longest first hands trials out a few at a time; the total counts them all from the
    start (it once grew as trials went in), and ends at the tasks the run computed."""
    import io
    import re

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    out = io.StringIO()
    record = api.run(api.validate(str(recipe)), executor="sync", stream=out)
    counts = [tuple(map(int, m)) for m in re.findall(r"\[(\d+)/(\d+)\] done fit:", out.getvalue())]
    ran = [s["name"] for s in record["steps"] if not s["cached"] and s["worker"] != "driver"]
    after_the_sweep = [name for name in ran if name in ("select", "refit", "test")]
    totals = {total for _, total in counts}
    assert len(counts) == 6 * 2  # six trials, two folds each
    assert len(totals) == 1, f"the total changed during the sweep: {sorted(totals)}"
    # from the first fit on: everything but what the winner decides (selection onwards)
    assert totals == {len(ran) - len(after_the_sweep)}
    done = re.findall(r"\[(\d+)/(\d+)\] done", out.getvalue())
    assert int(done[-1][0]) == int(done[-1][1]) == len(ran)  # it ends where it said


# Packing (engine/execution/packing.py): once the costliest trials prove cheap, order no
# longer matters and the rest go in whole, for the session to pack. How cheap counts as
# cheap is a wall-time threshold, so these tests set it (in the driver's process, where it
# is read) rather than depend on how busy the machine is.


def test_once_the_costliest_trials_prove_cheap_the_rest_go_in_whole(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (one slot: three trials ahead), the trials a submission holds: three,
    then every other one at once when the first is done, still costliest first."""
    sent: list[list[str]] = []
    original = SyncSession.submit

    def spy(self: SyncSession, tasks: Any) -> None:
        tasks = list(tasks)
        trials = [t.node.step.split(":")[2] for t in tasks if t.node.step.startswith("trial:")]
        if trials:
            sent.append(trials)
        original(self, tasks)

    monkeypatch.setattr(SyncSession, "submit", spy)
    monkeypatch.setattr(packing, "TARGET_S", 3600.0)
    _run(recipe, tmp_path / "cheap", monkeypatch)
    assert sent == [["t3", "t2", "t4"], ["t5", "t0", "t1"]]
    sent.clear()
    monkeypatch.setattr(packing, "TARGET_S", 0.0)  # nothing is cheap: a trial as one ends
    _run(recipe, tmp_path / "costly", monkeypatch)
    assert sent == [["t3", "t2", "t4"], ["t5"], ["t0"], ["t1"]]


def test_a_cheap_tree_sweep_is_packed_on_dask_and_finds_what_the_others_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """25 trials on a 2-worker LocalCluster: four go first, then the rest in whole, packed
    by the session; trial by trial the results of the unpacked and the in-process runs."""
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    recipe = write_recipe(tmp_path, "[2, 3, 4, 6, null]", "[1, 2, 4, 8, 16]")
    dealt: list[list[int]] = []
    original = packing.deal

    def spy(held: Any, latency: float | None, slots: int) -> list[list[Any]]:
        packs = original(held, latency, slots)
        dealt.append([len(p) for p in packs])
        return packs

    monkeypatch.setattr(packing, "deal", spy)
    monkeypatch.setattr(packing, "TARGET_S", 3600.0)

    def run(home: str, *over: str, executor: str | None = None) -> dict[str, Any]:
        monkeypatch.setenv("SOUS_HOME", str(tmp_path / home))
        return api.run(api.validate(str(recipe), list(over)), executor=executor)

    packed = run("packed")
    # the 21 trials left: a probe per slot, 19 in 8 packs (four per slot), dealt in turn
    assert dealt == [[3, 3, 3, 2, 2, 2, 2, 2]], dealt
    dealt.clear()
    unpacked = run("unpacked", "+cluster.pack=false")
    assert not dealt
    sync = run("sync", executor="sync")
    assert len(packed["leaderboard"]) == 25
    assert _by_params(packed) == _by_params(unpacked) == _by_params(sync)
    assert packed["winner"]["params"] == unpacked["winner"]["params"] == sync["winner"]["params"]
    assert packed["test_metrics"] == sync["test_metrics"]
    fits = [s for s in packed["steps"] if not s["cached"] and s["name"].startswith("fit:")]
    assert len(fits) == 25 * 2
    assert all(s["worker"].startswith("tcp://") for s in fits)  # each placed, packed or not
