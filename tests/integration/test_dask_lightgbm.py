"""kind: dask_lightgbm on a real LocalCluster with memory limits: a fit inside a task trains
across both workers through LightGBM's Dask estimators, concurrent fits do not deadlock, a
recipe with CV, a sweep, gates, packaging, the smoke test of the served model (and
select.tradeoff measured on the cluster) runs it like any model, and out of core it trains on
every partition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import api
from engine.specs import ClusterSpec

pytestmark = pytest.mark.slow


def _fit_on_a_worker(x: np.ndarray, y: np.ndarray) -> object:
    """What a fit node does on a worker: build and fit the estimator inside a Dask task."""
    from engine.models.dask_lightgbm import DaskLightGBMClassifier

    return DaskLightGBMClassifier(n_estimators=30, random_state=0).fit(x, y)


def test_fits_inside_tasks_train_across_both_workers_one_at_a_time() -> None:
    from distributed import Client
    from sklearn.datasets import make_classification

    from engine.execution.cluster import local_cluster

    x, y = make_classification(3000, 12, n_informative=6, n_classes=3, random_state=0)
    labels = np.array(["low", "mid", "high"])[y]
    spec = ClusterSpec(workers=2, threads_per_worker=1, memory_limit="700MB")
    with local_cluster(spec, warm=False, dashboard=False) as cluster, Client(cluster) as client:
        # one thread per worker: each fit task holds one while LightGBM trains on both, and
        # three at once take turns (the cluster's LightGBM lock) instead of deadlocking
        futures = [client.submit(_fit_on_a_worker, x, labels, pure=False) for _ in range(3)]
        models = [f.result(timeout=300) for f in futures]
    for model in models:
        assert model.trained_on_ == 2  # one partition per worker
        assert (model.predict(x) == labels).mean() > 0.85  # in this process, no cluster
    # not asserted: equal models. A distributed LightGBM fit depends on which partitions
    # land on which worker (documented in docs/scale.md); the in-process fit is seeded


RECIPE = """
name: lgbfit
task: classification
target: label
seed: 4
data:
  sources:
    rows: {{kind: csv, path: {path}}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.0}}
cv: {{kind: stratified_kfold, folds: 3}}
preprocess:
  numeric: {{impute: median, scale: standard}}
  categorical: {{impute: most_frequent, encode: onehot}}
models:
  lgb:
    kind: dask_lightgbm
    num_leaves: 15
    search: {{n_estimators: {{choice: [20, 40]}}}}
  sgd:
    kind: incremental
    _target_: sklearn.linear_model.SGDClassifier
    loss: log_loss
    batch_rows: 200
sweep: {{strategy: grid}}
select:
  metric: accuracy
  gates: {{accuracy: ">= 0.7"}}
  tradeoff: {{tolerance: 0.05, cost: {{latency_ms: 1.0, size_mb: 1.0}}}}
cluster: {{kind: local, workers: 2, memory_limit: 1GB}}
deploy:
  bento: {{name: lgbfit}}
  promote: staging
"""


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from sklearn.datasets import make_classification

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "home" / "bentoml"))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    x, y = make_classification(1500, 6, n_informative=4, random_state=1)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    frame["shade"] = np.where(x[:, 0] > 0, "dark", "light")
    frame["label"] = np.array(["no", "yes"])[y]
    frame.to_csv(tmp_path / "rows.csv", index=False)
    path = tmp_path / "lgbfit.yaml"
    path.write_text(RECIPE.format(path=tmp_path / "rows.csv"))
    return path


def test_a_recipe_sweeps_cross_validates_trades_off_packages_and_serves_it(recipe: Path) -> None:
    record = api.run(api.validate(str(recipe)))
    assert record["status"] == "succeeded", record.get("error")
    board = record["leaderboard"]
    assert len([row for row in board if row["model"] == "lgb"]) == 2  # the grid's two trials
    folds = [s for s in record["steps"] if s["name"].startswith("fit:lgb")]
    assert len(folds) == 2 * 3  # every trial cross-validated on 3 folds
    assert all(s["worker"].startswith("tcp://") for s in folds if not s["cached"])
    # select.tradeoff measured both models' refits in one task on a worker of the cluster
    t = record["tradeoff"]
    assert {c["model"] for c in t["candidates"]} == {"lgb", "sgd"}
    assert t["candidates"][0]["model"] == board[0]["model"]  # the best score first
    assert record["winner"]["model"] == t["chosen"] and t["chosen"] in t["front"]
    measure = next(s for s in record["steps"] if s["name"] == "measure")
    assert measure["worker"].startswith("tcp://")
    assert record["test_metrics"]["accuracy"] > 0.7
    # packaged as a Bento, served by a real server for the smoke test, promoted
    assert record["bento"] and record["model_version"]
    assert record["smoke"]["passed"] and record["promoted"] == "staging", record["smoke"]


def test_the_served_lightgbm_model_predicts_in_process(recipe: Path, tmp_path: Path) -> None:
    overrides = ["~models.sgd", "~select.tradeoff", "deploy.enabled=false"]
    record = api.run(api.validate(str(recipe), overrides))
    assert record["status"] == "succeeded", record.get("error")
    assert record["winner"]["model"] == "lgb"
    from engine.store.cache import ArtifactCache

    model_key = next(s["key"] for s in record["steps"] if s["name"] == "refit")
    pipeline = ArtifactCache(str(tmp_path / "home" / "cache")).load(model_key)
    lgb = pipeline[-1]
    assert type(lgb.model_).__module__ == "lightgbm.sklearn" and lgb.trained_on_ == 2
    rows = pd.read_csv(tmp_path / "rows.csv").drop(columns=["label"]).head(50)
    assert set(pipeline.predict(rows)) <= {"no", "yes"}
