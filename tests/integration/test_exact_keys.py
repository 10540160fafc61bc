"""A key names exactly the work: on a local Dask cluster, through the CLI as a user runs it.

Widening a grid computes only the new values' fits; narrowing or reordering it computes
nothing; a multirun job whose config equals an earlier run's computes nothing; a library
upgrade or an edited step recomputes the nodes that run that code, and only those.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.e2e_support import ROOT, env_with, sous_cmd

pytestmark = pytest.mark.slow

RECIPE = """
defaults:
  - /source@data.sources.iris: iris
  - /split: stratified
  - /cluster: local
  - /deploy: none
  - _self_
name: keys
task: classification
target: target
seed: 3
split: {{test_size: 0.2, valid_size: 0.0}}
cv: {{kind: stratified_kfold, folds: 3}}
models:
  rf:
    _target_: sklearn.ensemble.RandomForestClassifier
    max_depth: 3
    search: {{n_estimators: {{choice: {sizes}}}}}
sweep: {{strategy: grid}}
select: {{metric: f1}}
"""


def write_recipe(directory: Path, sizes: list[int]) -> Path:
    path = directory / "keys.yaml"
    path.write_text(RECIPE.format(sizes=json.dumps(sizes)))
    return path


def run(home: Path, recipe: Path, *overrides: str, env: dict[str, str] | None = None) -> Any:
    out = subprocess.run(
        sous_cmd("run", str(recipe), *overrides, "--json"),
        env=env or env_with(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def computed(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in record["steps"] if not s["cached"]]


def fit_keys(record: dict[str, Any]) -> set[str]:
    return {s["key"] for s in record["steps"] if s["name"].startswith("fit:")}


@pytest.fixture(scope="module")
def grid_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A home where the [10, 20] grid has run once."""
    home = tmp_path_factory.mktemp("home")
    recipes = tmp_path_factory.mktemp("recipes")
    first = run(home, write_recipe(recipes, [10, 20]))
    assert len(fit_keys(first)) == 2 * 3
    return home, recipes, first


def test_widening_a_grid_computes_only_the_new_values_fits(
    grid_home: tuple[Path, Path, dict[str, Any]],
) -> None:
    home, recipes, first = grid_home
    wider = run(home, write_recipe(recipes, [10, 20, 40]))
    new_fits = [s for s in computed(wider) if s["name"].startswith("fit:")]
    assert len(new_fits) == 3  # the three folds of n_estimators=40
    assert fit_keys(first) < fit_keys(wider)
    assert not {s["key"] for s in new_fits} & fit_keys(first)
    others = {s["name"].split(":")[0] for s in computed(wider)} - {"fit", "trial"}
    assert others <= {"select", "refit", "test"}, others  # nothing upstream of the fits


def write_depth_recipe(directory: Path, depths: list[int]) -> Path:
    """The grid over max_depth (n_estimators fixed) instead."""
    path = directory / "depths.yaml"
    text = RECIPE.format(sizes="[]").replace(
        "    max_depth: 3\n    search: {n_estimators: {choice: []}}",
        f"    n_estimators: 10\n    search: {{max_depth: {{choice: {json.dumps(depths)}}}}}",
    )
    assert "max_depth: {choice:" in text
    path.write_text(text)
    return path


def test_widening_a_grid_with_the_same_winner_reuses_the_refit_and_test(tmp_path: Path) -> None:
    """A depth-1 tree cannot tell iris's three classes apart: added to the grid, it loses,
    and the refit and test (keyed on the winner's fit, not on the selection) are reused."""
    home = tmp_path / "home"
    first = run(home, write_depth_recipe(tmp_path, [3, 4]))
    wider = run(home, write_depth_recipe(tmp_path, [1, 3, 4]))
    assert wider["winner"]["params"] == first["winner"]["params"]
    assert wider["winner"]["params"]["max_depth"] != 1
    ran = {s["name"].split(":")[0] for s in computed(wider)}
    assert ran == {"fit", "trial", "select"}, ran  # the depth-1 fits, its trial, selection
    keys = {s["name"]: s["key"] for s in first["steps"]}
    assert all(
        keys[s["name"]] == s["key"] for s in wider["steps"] if s["name"] in ("refit", "test")
    )
    assert wider["test_metrics"] == first["test_metrics"]


@pytest.mark.parametrize(
    "sizes",
    [pytest.param([10], id="narrowed"), pytest.param([20, 10], id="reordered")],
)
def test_narrowing_or_reordering_a_grid_fits_nothing(
    grid_home: tuple[Path, Path, dict[str, Any]], sizes: list[int]
) -> None:
    home, recipes, first = grid_home
    record = run(home, write_recipe(recipes, sizes))
    assert not [s for s in computed(record) if s["name"].startswith(("fit:", "trial:"))]
    assert fit_keys(record) <= fit_keys(first)
    if sorted(sizes) == [10, 20]:  # the same trials in another order: the same run
        assert computed(record) == []


def test_a_multirun_job_equal_to_an_earlier_run_computes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    recipe = write_recipe(tmp_path, [10])
    single = run(home, recipe, "seed=5")
    out = subprocess.run(
        sous_cmd("run", str(recipe), "-m", "seed=5,6"),
        env=env_with(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    listed = subprocess.run(
        sous_cmd("runs", "ls", "--json", "--limit", "10"),
        env=env_with(home),
        capture_output=True,
        text=True,
        check=True,
    )
    ids = [r["run_id"] for r in json.loads(listed.stdout) if r["run_id"] != single["run_id"]]
    records = [_show(home, run_id) for run_id in ids]
    same = [r for r in records if r["config"]["seed"] == 5]
    assert len(same) == 1 and len(records) == 2
    assert {s["key"] for s in same[0]["steps"]} == {s["key"] for s in single["steps"]}
    assert computed(same[0]) == []
    assert computed(next(r for r in records if r["config"]["seed"] == 6))


def _show(home: Path, run_id: str) -> Any:
    out = subprocess.run(
        sous_cmd("runs", "show", run_id, "--json"),
        env=env_with(home),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def plan_rows(home: Path, recipe: Path, env: dict[str, str]) -> dict[str, bool]:
    """``sous plan --json``: step name -> cached. Run from the home's directory: `python -m`
    puts the current directory first on the path, and the engine must come from PYTHONPATH
    (or the install), never from a checkout the test happens to start in."""
    out = subprocess.run(
        sous_cmd("plan", str(recipe), "--json"),
        env=env,
        capture_output=True,
        text=True,
        cwd=home,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return {row["step"]: row["cached"] for row in json.loads(out.stdout)}


def test_an_edited_step_recomputes_the_nodes_that_run_it_and_only_those(
    grid_home: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A copy of the engine whose ``profile`` step has an extra line: only the profile node
    (nothing reads it) is to run again; the other steps of the same module are cached."""
    home, recipes, _ = grid_home
    recipe = write_recipe(recipes, [10, 20])
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "engine", copy / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    steps = copy / "engine" / "steps" / "data.py"
    text = steps.read_text()
    anchor = "def profile("
    assert anchor in text
    head, tail = text.split(anchor, 1)
    body_start = tail.index('"""', tail.index('"""') + 3) + 3  # after the docstring
    steps.write_text(head + anchor + tail[:body_start] + "\n    _edited = True" + tail[body_start:])
    before = plan_rows(home, recipe, env_with(home))
    assert all(before.values()), "the grid ran: everything is cached"
    after = plan_rows(home, recipe, env_with(home, PYTHONPATH=str(copy)))
    assert {step for step, cached in after.items() if not cached} == {"profile"}


def test_a_library_upgrade_recomputes_the_nodes_that_use_it_and_only_those(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Simulated: the plan of one recipe with a forest and a Lightning MLP, with torch's
    version changed; only the MLP's fits (and what reads them) get new keys."""
    from engine import api, provenance

    spec = api.validate(
        str(ROOT / "recipes" / "iris.yaml"),
        ["+models.mlp.kind=lightning", "+models.mlp.max_epochs=1", "cluster=sync"],
    )
    before = api.plan(spec)[0]
    real = provenance.library_version

    def upgraded(top: str) -> str | None:
        return "99.0" if top == "torch" else real(top)

    monkeypatch.setattr(provenance, "library_version", upgraded)
    after = api.plan(spec)[0]
    changed = {n.step for n in after.nodes.values() if n.key not in before.nodes}
    assert changed, "torch decides the MLP's fits"
    assert all(s.startswith(("fit:mlp", "trial:mlp", "select", "refit", "test")) for s in changed)
    assert any(s.startswith("fit:mlp") for s in changed)
    unchanged = {n.step for n in after.nodes.values() if n.key in before.nodes}
    assert any(s.startswith("fit:rf") for s in unchanged)
    assert any(s.startswith("fit:logreg") for s in unchanged)
