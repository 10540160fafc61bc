"""sweep.strategy: halving against scikit-learn's HalvingGridSearchCV on the same grid, data,
CV folds and seed: the same iterations, resources, candidates (in the same order, with the
same mean scores), survivors and best params; eliminated trials recorded as pruned; a rerun
computes nothing; a subsample fit is never a full-size fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine import api
from engine.home import cache_dir
from engine.store.cache import ArtifactCache

SEED = 11
# not in name order: the candidates still go in scikit-learn's ParameterGrid order (names
# sorted), which is what breaks ties between equal scores
TREE_GRID = {"min_samples_leaf": [1, 5, 20], "max_depth": [1, 2, 3, 4, 6, 8, 12]}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    return tmp_path


def _data(tmp: Path, task: str) -> Path:
    from sklearn.datasets import make_classification, make_regression

    if task == "classification":
        x, y = make_classification(n_samples=700, n_features=8, n_informative=5, random_state=0)
    else:
        x, y = make_regression(n_samples=500, n_features=8, noise=25.0, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)])
    frame["target"] = y
    path = tmp / f"{task}.csv"
    frame.to_csv(path, index=False)
    return path


def _yaml(value: Any) -> str:
    return repr(value).replace("None", "null").replace("True", "true").replace("False", "false")


def recipe(
    tmp: Path,
    task: str,
    target: str,
    params: dict[str, Any],
    grid: dict[str, list[Any]],
    *,
    metric: str,
    halving: dict[str, Any] | None = None,
    cv: bool = True,
    cluster: str = "sync",
) -> Path:
    """A recipe over a CSV, with no preprocessing (the model sees the raw columns, as
    scikit-learn's estimator does)."""
    search = ", ".join(f"{k}: {{choice: {_yaml(v)}}}" for k, v in grid.items())
    model = "".join(f"    {k}: {_yaml(v)}\n" for k, v in params.items())
    options = "".join(f"    {k}: {_yaml(v)}\n" for k, v in (halving or {"factor": 3}).items())
    split = "{test_size: 0.2, valid_size: 0.0}" if cv else "{test_size: 0.2, valid_size: 0.3}"
    folds = "cv: {kind: %s, folds: 3}\n" % (
        "stratified_kfold" if task == "classification" else "kfold"
    )
    path = tmp / f"halving_{task}.yaml"
    path.write_text(
        f"""defaults:
  - /split: {"stratified" if task == "classification" else "random"}
  - /cluster: {cluster}
  - /deploy: none
  - _self_
name: halving_{task}
task: {task}
target: target
seed: {SEED}
data:
  sources:
    main: {{kind: csv, path: {_data(tmp, task)}}}
split: {split}
{folds if cv else ""}preprocess:
  numeric: {{impute: none, scale: none}}
models:
  m:
    _target_: {target}
{model}    search: {{{search}}}
sweep:
  strategy: halving
  halving:
{options}select: {{metric: {metric}}}
"""
    )
    return path


def _steps(record: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["key"] for s in record["steps"]}


def sous_history(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[float], list[int]]:
    """Every trial's params and mean score in trial order, and each iteration's resources,
    read back from the cache the run filled."""
    cache = ArtifactCache(cache_dir())
    steps = _steps(record)
    metric = record["select_metric"]
    trials = sorted(
        (int(name.rsplit(":t", 1)[1]), key)
        for name, key in steps.items()
        if name.startswith("trial:m:t")
    )
    params, scores = [], []
    for _, key in trials:
        result = cache.load(key)
        params.append(dict(result.params))
        scores.append(result.metrics[metric])
    rungs = sorted((name, key) for name, key in steps.items() if name.startswith("halving:m:i"))
    return params, scores, [cache.load(key).n_resources for _, key in rungs]


def sklearn_halving(
    record: dict[str, Any], estimator: Any, grid: dict[str, list[Any]], scoring: str, **kw: Any
) -> Any:
    """HalvingGridSearchCV on the rows and CV folds the run selected on (its folds node, or
    its train/valid split as one fold), with the recipe's seed."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    cache = ArtifactCache(cache_dir())
    steps = _steps(record)
    frame = cache.load(steps["validate"]).frame
    if "folds" in steps:
        folds = cache.load(steps["folds"])
    else:
        split = cache.load(steps["split"])
        folds = ((split.train, split.valid),)
    rows = np.unique(np.concatenate([np.concatenate([tr, va]) for tr, va in folds]))
    cv = [(np.searchsorted(rows, tr), np.searchsorted(rows, va)) for tr, va in folds]
    x = frame.iloc[rows][[f"x{i}" for i in range(8)]].to_numpy()
    y = frame.iloc[rows]["target"].to_numpy()
    search = HalvingGridSearchCV(
        estimator, grid, cv=cv, scoring=scoring, random_state=SEED, refit=False, **kw
    )
    return search.fit(x, y)


def check_same_choices(record: dict[str, Any], sk: Any, sign: float = 1.0) -> None:
    """Same iterations and resources, the same candidates in the same order with the same
    mean scores, the same eliminations and the same final choice."""
    params, scores, resources = sous_history(record)
    res = sk.cv_results_
    assert resources == list(sk.n_resources_) or resources == []  # [] when not n_samples
    names = list(res["params"][0])  # the grid's (and the resource's); Sous adds model params
    assert [{k: p[k] for k in names} for p in params] == [dict(p) for p in res["params"]]
    np.testing.assert_allclose(sign * np.asarray(scores), res["mean_test_score"], rtol=1e-12)
    counts = [int(np.sum(res["iter"] == i)) for i in range(sk.n_iterations_)]
    assert counts == list(sk.n_candidates_)
    # eliminated trials: pruned with the iteration they reached and its resources
    by_iter: dict[int, list[dict[str, Any]]] = {}
    for p in record["pruned"]:
        by_iter.setdefault(p["iteration"], []).append(p)
    for i in range(sk.n_iterations_ - 1):
        assert len(by_iter.get(i, [])) == counts[i] - counts[i + 1]
        assert {p["n_resources"] for p in by_iter[i]} == {sk.n_resources_[i]}
        # ... with the params and mean score it had there, as scikit-learn's results say
        at_i = [
            (dict(p), s)
            for p, s, it in zip(res["params"], res["mean_test_score"], res["iter"], strict=True)
            if it == i
        ]
        for p in by_iter[i]:
            mine = {k: p["params"][k] for k in names}
            expected = next(s for q, s in at_i if q == mine)
            assert p["score"] is not None
            np.testing.assert_allclose(sign * p["score"], expected, rtol=1e-12)
    assert len(record["leaderboard"]) == counts[-1]  # the last iteration's trials, only
    best = sk.cv_results_["params"][sk.best_index_]
    assert {k: record["winner"]["params"][k] for k in best} == best


def test_classification_tree_grid_matches_halving_grid_search(home: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    path = recipe(
        home,
        "classification",
        "sklearn.tree.DecisionTreeClassifier",
        {"random_state": 0},
        TREE_GRID,
        metric="accuracy",
    )
    record = api.run(api.validate(str(path)))
    assert record["status"] == "succeeded"
    sk = sklearn_halving(record, DecisionTreeClassifier(random_state=0), TREE_GRID, "accuracy")
    assert sk.n_iterations_ == 3
    check_same_choices(record, sk)


def test_regression_factor_2_and_aggressive_elimination(home: Path) -> None:
    from sklearn.linear_model import Ridge

    grid = {
        "alpha": [0.01, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0],
        "fit_intercept": [True, False],
    }
    options = {"factor": 2, "min_resources": 60, "aggressive_elimination": True}
    path = recipe(
        home,
        "regression",
        "sklearn.linear_model.Ridge",
        {},
        grid,
        metric="rmse",
        halving=options,
    )
    record = api.run(api.validate(str(path)))
    assert record["status"] == "succeeded"
    sk = sklearn_halving(
        record,
        Ridge(),
        grid,
        "neg_root_mean_squared_error",
        factor=2,
        min_resources=60,
        aggressive_elimination=True,
    )
    assert sk.n_resources_[0] == sk.n_resources_[1]  # aggressive: the first size repeats
    check_same_choices(record, sk, sign=-1.0)


def test_holdout_split_int_min_resources(home: Path) -> None:
    """Without CV the train/valid split is the one fold, as ``cv=[(train, valid)]``."""
    from sklearn.linear_model import LogisticRegression

    grid = {"C": [0.0001, 0.001, 0.01, 0.1, 1.0, 10.0], "fit_intercept": [True, False]}
    path = recipe(
        home,
        "classification",
        "sklearn.linear_model.LogisticRegression",
        {"max_iter": 500},
        grid,
        metric="accuracy",
        halving={"factor": 3, "min_resources": 40},
        cv=False,
    )
    record = api.run(api.validate(str(path)))
    sk = sklearn_halving(
        record, LogisticRegression(max_iter=500), grid, "accuracy", min_resources=40
    )
    check_same_choices(record, sk)


def test_n_estimators_as_the_resource(home: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    grid = {"max_features": [1, 3, 8], "max_depth": [1, 2, 4, 8]}
    path = recipe(
        home,
        "classification",
        "sklearn.ensemble.RandomForestClassifier",
        {"random_state": 0, "n_jobs": 1},
        grid,
        metric="accuracy",
        halving={"resource": "n_estimators", "max_resources": 27, "factor": 3},
    )
    record = api.run(api.validate(str(path)))
    assert record["status"] == "succeeded"
    sk = sklearn_halving(
        record,
        RandomForestClassifier(random_state=0, n_jobs=1),
        grid,
        "accuracy",
        resource="n_estimators",
        max_resources=27,
    )
    assert sk.n_resources_ == [3, 9, 27]
    check_same_choices(record, sk)
    assert record["winner"]["params"]["n_estimators"] == 27


def test_on_a_local_cluster_rerun_computes_nothing_and_full_fits_are_not_subsample_fits(
    home: Path,
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    path = recipe(
        home,
        "classification",
        "sklearn.tree.DecisionTreeClassifier",
        {"random_state": 0},
        TREE_GRID,
        metric="accuracy",
        cluster="local",
    )
    spec = api.validate(str(path))
    first = api.run(spec)
    assert first["status"] == "succeeded"
    sk = sklearn_halving(first, DecisionTreeClassifier(random_state=0), TREE_GRID, "accuracy")
    check_same_choices(first, sk)
    assert {s["worker"] for s in first["steps"] if s["name"].startswith("fit:")} - {None}
    again = api.run(spec)
    computed = [s["name"] for s in again["steps"] if not s["cached"] and s["key"]]
    assert [n for n in computed if n.startswith(("fit:", "halving:", "trial:"))] == []
    assert again["winner"] == first["winner"] and again["pruned"] == first["pruned"]
    # the same grid in full: every fit is new work, none is taken from a subsample fit
    full = api.run(api.validate(str(path), ["sweep.strategy=grid"]))
    fits = [s for s in full["steps"] if s["name"].startswith("fit:m")]
    assert len(fits) == 21 * 3 and not any(s["cached"] for s in fits)
