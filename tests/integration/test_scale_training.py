"""kind: dask_xgboost and kind: incremental on a real LocalCluster with memory limits: the fit
trains across both workers, and a recipe with CV, a sweep, gates, packaging and the smoke
test of the served model runs them like any other model."""

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
    from engine.models.dask_xgboost import DaskXGBClassifier

    return DaskXGBClassifier(n_estimators=40, early_stopping_rounds=5, random_state=0).fit(x, y)


def test_a_fit_inside_a_task_trains_across_both_workers_of_a_memory_limited_cluster() -> None:
    from distributed import Client
    from sklearn.datasets import make_classification

    from engine.execution.cluster import local_cluster

    x, y = make_classification(3000, 12, n_informative=6, n_classes=3, random_state=0)
    spec = ClusterSpec(workers=2, threads_per_worker=1, memory_limit="700MB")
    with local_cluster(spec, warm=False, dashboard=False) as cluster, Client(cluster) as client:
        limits = {
            w["memory_limit"] for w in client.scheduler_info(n_workers=-1)["workers"].values()
        }
        assert limits == {700 * 10**6}
        # one thread per worker: the fit task holds one of them while xgboost trains on both
        model = client.submit(_fit_on_a_worker, x, y, pure=False).result(timeout=300)
    assert model.trained_on_ == 2  # one partition per worker
    assert model.best_iteration_ < 40 or model.booster_.num_boosted_rounds() == 40
    assert (model.predict(x) == y).mean() > 0.85  # predicts in this process, no cluster


RECIPE = """
name: scalefit
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
  xgb:
    kind: dask_xgboost
    max_depth: 3
    early_stopping_rounds: 5
    search: {{n_estimators: {{choice: [20, 40]}}}}
  sgd:
    kind: incremental
    _target_: sklearn.linear_model.SGDClassifier
    loss: log_loss
    batch_rows: 200
    epochs: 2
sweep: {{strategy: grid}}
select:
  metric: accuracy
  gates: {{accuracy: ">= 0.7"}}
cluster: {{kind: local, workers: 2, memory_limit: 1GB}}
deploy:
  bento: {{name: scalefit}}
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
    path = tmp_path / "scalefit.yaml"
    path.write_text(RECIPE.format(path=tmp_path / "rows.csv"))
    return path


def test_a_recipe_sweeps_cross_validates_packages_and_serves_both_kinds(recipe: Path) -> None:
    record = api.run(api.validate(str(recipe)))
    assert record["status"] == "succeeded", record.get("error")
    board = record["leaderboard"]
    assert {row["model"] for row in board} == {"xgb", "sgd"}
    assert len([row for row in board if row["model"] == "xgb"]) == 2  # the grid's two trials
    assert record["test_metrics"]["accuracy"] > 0.7
    folds = [s for s in record["steps"] if s["name"].startswith("fit:xgb")]
    assert len(folds) == 2 * 3  # every trial cross-validated on 3 folds
    # packaged as a Bento, served by a real server for the smoke test, promoted
    assert record["bento"] and record["model_version"]
    assert record["smoke"]["passed"] and record["promoted"] == "staging", record["smoke"]


OOC_RECIPE = """
name: bigfit
task: classification
target: label
seed: 2
data:
  sources:
    rows: {{kind: csv, path: {path}}}
  out_of_core: {{blocksize: "256KB", sample_rows: 1000}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.1}}
preprocess:
  numeric: {{impute: median, scale: standard}}
  categorical: {{impute: most_frequent, encode: onehot}}
models:
  xgb: {{kind: dask_xgboost, max_depth: 4, n_estimators: 200, early_stopping_rounds: 5{xgb}}}
  sgd:
    kind: incremental
    _target_: sklearn.linear_model.SGDClassifier
    loss: log_loss
    batch_rows: 500
select: {{metric: accuracy}}
cluster: {cluster}
deploy: {{enabled: false}}
"""
OOC_ROWS = 20_000


@pytest.fixture
def ooc_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from sklearn.datasets import make_classification

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    x, y = make_classification(OOC_ROWS, 8, n_informative=5, random_state=3)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)])
    frame["zone"] = np.where(x[:, 1] > 0.5, "north", "south")
    frame["label"] = np.array(["stay", "leave"])[y]
    frame.to_csv(tmp_path / "rows.csv", index=False)

    def write(cluster: str, xgb: str = "") -> Path:
        path = tmp_path / "bigfit.yaml"
        text = OOC_RECIPE.format(path=tmp_path / "rows.csv", cluster=cluster, xgb=xgb)
        path.write_text(text)
        return path

    return write


def _fits(home: Path) -> dict[str, object]:
    """Fit results in the cache, by model (the trials' FitResults)."""
    from engine.store.cache import ArtifactCache

    cache = ArtifactCache(str(home / "cache"))
    return {key.split("-")[0]: cache.load(key) for key in cache.entries() if key.startswith("fit.")}


def test_out_of_core_models_train_on_every_partition_on_a_memory_limited_cluster(
    ooc_recipe, tmp_path: Path
) -> None:
    """sample_rows is 1000 but the two partitioned kinds fit on every train row (about
    14,000) and are scored on every valid row (about 2,000), across the cluster's workers."""
    record = api.run(api.validate(str(ooc_recipe("{kind: local, workers: 2, memory_limit: 1GB}"))))
    assert record["status"] == "succeeded", record.get("error")
    assert record["data"]["out_of_core"]["sample_rows"] == 1000
    fits = _fits(tmp_path / "home")
    assert set(fits) == {"fit.xgb", "fit.sgd"}
    for result in fits.values():
        # all train rows (70% of 20,000, up to per-partition rounding), not the sample's 700
        assert abs(result.n_train - OOC_ROWS * 0.7) < 50
        assert abs(result.n_valid - OOC_ROWS * 0.1) < 50
        assert result.metrics["accuracy"] > 0.75
    assert record["test_metrics"]["accuracy"] > 0.75


def test_an_out_of_core_recipe_trains_xgboost_from_external_memory(
    ooc_recipe, tmp_path: Path
) -> None:
    """external_memory: true through a run: each worker streams its train and valid files;
    the model scored and refit has seen every train row, across both workers."""
    from engine.store.cache import ArtifactCache

    recipe = ooc_recipe("{kind: local, workers: 2, memory_limit: 1GB}", ", external_memory: true")
    record = api.run(api.validate(str(recipe), ["~models.sgd"]))
    assert record["status"] == "succeeded", record.get("error")
    fit = _fits(tmp_path / "home")["fit.xgb"]
    assert abs(fit.n_train - OOC_ROWS * 0.7) < 50 and fit.metrics["accuracy"] > 0.75
    cache = ArtifactCache(str(tmp_path / "home" / "cache"))
    refits = [cache.load(k) for k in cache.entries() if k.startswith("refit-")]
    assert refits, sorted(cache.entries())
    booster = refits[0][-1]
    assert booster.trained_on_ == 2  # one shard per worker
    assert abs(booster.rows_trained_ - OOC_ROWS * 0.7) < 50


def test_bench_scale_quick_prints_the_three_fits_side_by_side(tmp_path: Path) -> None:
    """benchmarks/bench_scale.py --quick: a real 2-worker cluster, then both in-memory fits."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_scale.py"), "--quick",
         "--work-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=root, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    for mode in ("distributed", "largest sample", "bounded sample"):
        assert any(line.startswith(mode) for line in lines), out.stdout
    assert "distributed peak per worker / limit" in out.stdout
    assert not any(tmp_path.iterdir())  # the table is removed afterwards
