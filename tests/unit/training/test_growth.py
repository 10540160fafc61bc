"""Trials that grow one another (engine.models.growth): exact, planned, and used by runs."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.models.growth import GROWABLE, grow, growth_param, lineage
from engine.specs import ModelSpec


def _cls(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _outputs(est: Any, x: np.ndarray) -> np.ndarray:
    return est.predict_proba(x) if hasattr(est, "predict_proba") else est.predict(x)


@pytest.mark.parametrize("path", sorted(GROWABLE))
def test_growing_a_fit_equals_a_fresh_fit_of_the_larger_size(path: str) -> None:
    from sklearn.datasets import make_classification
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(n_samples=300, n_features=6, random_state=1)
    if path.endswith("Regressor"):
        y = x[:, 0] * 2.0 + x[:, 1]
    cls = _cls(path)
    params: dict[str, Any] = {"random_state": 3}
    if "GradientBoosting" in path:
        params["subsample"] = 0.7  # the stochastic variant: the rng must carry over too
    param = GROWABLE[path]

    def pipeline(size: int) -> Any:
        return Pipeline([("scale", StandardScaler()), ("model", cls(**params, **{param: size}))])

    fresh = pipeline(9).fit(x, y)
    small = pipeline(4).fit(x, y)
    before = _outputs(small, x)
    spec = ModelSpec(name="m", kind="sklearn", target=path, params=params)
    grown = grow(small, spec, {param: 9}, x, y)
    assert np.array_equal(_outputs(grown, x), _outputs(fresh, x))
    assert np.array_equal(_outputs(small, x), before), "growing must leave the parent untouched"
    assert grown[-1].get_params()["warm_start"] is False


def rf(
    params: dict[str, Any] | None = None, target: str = "sklearn.ensemble.RandomForestClassifier"
) -> ModelSpec:
    return ModelSpec(name="rf", kind="sklearn", target=target, params=params or {})


def test_lineage_links_each_size_to_the_next_smaller_with_the_same_other_params() -> None:
    trials = [
        {"n_estimators": 24, "max_depth": 4},
        {"n_estimators": 6, "max_depth": 4},
        {"n_estimators": 12, "max_depth": 4},
        {"n_estimators": 6, "max_depth": 8},
        {"n_estimators": 12, "max_depth": 8},
        {"n_estimators": 12, "max_depth": None},
    ]
    assert lineage(rf(), trials) == {2: 1, 0: 2, 4: 3}


def test_lineage_takes_the_recipe_params_into_account() -> None:
    trials = [{"n_estimators": 5}, {"n_estimators": 10}]
    assert lineage(rf({"max_depth": 3}), trials) == {1: 0}
    # a recipe-level size: a trial that leaves it alone has that size
    assert lineage(
        rf({"n_estimators": 5}), [{"max_depth": 2}, {"n_estimators": 10, "max_depth": 2}]
    ) == {1: 0}


@pytest.mark.parametrize(
    "model, trials",
    [
        pytest.param(
            rf({"warm_start": True}),
            [{"n_estimators": 5}, {"n_estimators": 10}],
            id="user-warm-start",
        ),
        pytest.param(
            rf(target="sklearn.ensemble.GradientBoostingClassifier"),
            [
                {"n_estimators": 5, "n_iter_no_change": 3},
                {"n_estimators": 10, "n_iter_no_change": 3},
            ],
            id="early-stopping",
        ),
        pytest.param(rf(), [{"n_estimators": 5.0}, {"n_estimators": 10.0}], id="float-sizes"),
        pytest.param(rf(), [{"n_estimators": 5}, {"n_estimators": 5}], id="same-size"),
        pytest.param(
            rf(target="sklearn.linear_model.LogisticRegression"),
            [{"n_estimators": 5}, {"n_estimators": 10}],
            id="not-an-ensemble",
        ),
        pytest.param(
            ModelSpec(name="mlp", kind="lightning", target=None),
            [{"n_estimators": 5}, {"n_estimators": 10}],
            id="lightning",
        ),
    ],
)
def test_no_lineage_where_a_warm_start_would_not_equal_a_fresh_fit(
    model: ModelSpec, trials: list[dict[str, Any]]
) -> None:
    assert lineage(model, trials) == {}


def test_growth_param_only_for_listed_sklearn_ensembles() -> None:
    assert growth_param(rf()) == "n_estimators"
    assert growth_param(rf(target="sklearn.tree.DecisionTreeClassifier")) is None


RECIPE = """
name: grow_sweep
task: classification
target: y
seed: 0
data:
  sources:
    table: {{kind: csv, path: {path}}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.1}}
cv: {{kind: stratified_kfold, folds: 3}}
models:
  rf:
    _target_: sklearn.ensemble.RandomForestClassifier
    search:
      n_estimators: {{choice: [8, 2, 4]}}
      max_depth: {{choice: [2, null]}}
sweep: {{strategy: grid}}
select: {{metric: accuracy}}
deploy: {{enabled: false}}
"""


@pytest.fixture
def sweep_recipe(tmp_path: Path, frame: Any) -> Path:
    frame.drop(columns=["color"]).to_csv(tmp_path / "data.csv", index=False)
    recipe = tmp_path / "grow_sweep.yaml"
    recipe.write_text(RECIPE.format(path=tmp_path / "data.csv"))
    return recipe


def _leaderboard(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(t["params"], t["metrics"], t["folds"]) for t in record["leaderboard"]]


def test_a_sweep_grows_its_larger_forests_and_scores_them_as_fresh_fits(
    sweep_recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import api

    spec = api.validate(str(sweep_recipe))
    plan, _ = api.plan(spec)
    fits = {n.step: n for n in plan.nodes.values() if n.step.startswith("fit:")}
    grown = [n for n in fits.values() if "grow_from" in n.hints]
    kept = [n for n in fits.values() if n.hints.get("keep_model")]
    assert len(grown) == 2 * 2 * 3  # sizes 4 and 8, both depths, 3 folds
    assert len(kept) == 2 * 2 * 3  # sizes 2 and 4 feed a larger trial
    for node in grown:  # each grows from the same fold of the next smaller trial
        parent = plan.nodes[node.hints["grow_from"].key]
        assert parent.params["params"]["n_estimators"] < node.params["params"]["n_estimators"]
        assert parent.params["train_idx"] == node.params["train_idx"]

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "grown"))
    with_growth = api.run(spec, executor="sync")
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "fresh"))
    fresh_spec = api.validate(str(sweep_recipe), ["+sweep.grow=false"])
    fresh_plan, _ = api.plan(fresh_spec)
    assert not any("grow_from" in n.hints for n in fresh_plan.nodes.values())
    # growing is an execution hint: a grown fit and a fresh one are the same work, one key
    assert set(fresh_plan.nodes) == set(plan.nodes)
    without = api.run(fresh_spec, executor="sync")
    assert _leaderboard(with_growth) == _leaderboard(without)
    assert with_growth["winner"] == without["winner"]


def test_fold_models_stay_out_of_the_cache_and_a_resumed_child_fits_from_scratch(
    sweep_recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from engine import api
    from engine.home import cache_dir
    from engine.store.cache import ArtifactCache

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    spec = api.validate(str(sweep_recipe))
    first = api.run(spec, executor="sync")
    plan, _ = api.plan(spec)
    cache = ArtifactCache(cache_dir())
    parents = [k for k, n in plan.nodes.items() if n.hints.get("keep_model")]
    assert parents and all(cache.load(k).model is None for k in parents)
    # as if the run had died after the parents: drop every grown fit and what follows
    grown = {k for k, n in plan.nodes.items() if "grow_from" in n.hints}
    after = {
        k
        for k, n in plan.nodes.items()
        if n.step.split(":")[0] in ("trial", "select", "refit", "test")
    }
    for key in grown | after:
        cache.remove(key)
    resumed = api.run(spec, executor="sync")
    assert {s["key"] for s in resumed["steps"] if not s["cached"]} >= grown
    assert _leaderboard(resumed) == _leaderboard(first)


def test_a_kept_model_is_let_go_once_every_reader_finished(
    sweep_recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from engine import api
    from engine.execution.sessions import SyncSession
    from engine.home import cache_dir
    from engine.progress import Progress
    from engine.run.driver import Driver
    from engine.store.cache import ArtifactCache

    class Watched(SyncSession):
        """Records what the driver forgets, and which kept models were in memory when."""

        def __init__(self, root: str):
            super().__init__(root)
            self.forgotten: list[str] = []

        def forget(self, key: str) -> None:
            assert self.done_values[key].model is not None, (
                "a kept fit holds its model until let go"
            )
            self.forgotten.append(key)
            super().forget(key)

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    spec = api.validate(str(sweep_recipe))
    cache = ArtifactCache(cache_dir())
    session = Watched(str(cache.root))
    result = Driver(spec, cache, session, Progress(io.StringIO()), slots=1).run()
    kept = {k for k, n in result.plan.nodes.items() if n.hints.get("keep_model")}
    assert kept and set(session.forgotten) == kept and len(session.forgotten) == len(kept)
    assert not any(k in session.done_values for k in kept)
