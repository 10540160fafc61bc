"""Elastic clusters on real processes: ``cluster.adaptive`` grows a LocalCluster while tasks
wait and retires idle workers; a recipe runs on one; a worker killed in the middle of a run
costs only the tasks it was running (the run completes, finished fits are not recomputed)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from engine import api
from engine.specs import AdaptiveSpec, ClusterSpec
from engine.store.cache import commit_marker

pytestmark = pytest.mark.slow


def _busy(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()


def _workers(client) -> int:
    return len(client.scheduler_info(n_workers=-1)["workers"])


def _until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout_s:.0f} s"
        time.sleep(0.2)


def test_adaptive_local_cluster_grows_with_queued_work_and_shrinks_when_idle() -> None:
    from distributed import Client

    from engine.execution.cluster import local_cluster

    spec = ClusterSpec(adaptive=AdaptiveSpec(minimum=0, maximum=2), memory_limit="500MB")
    with local_cluster(spec, warm=False, dashboard=False) as cluster, Client(cluster) as client:
        assert _workers(client) == 0  # starts at its minimum
        seen: list[int] = []
        futures = client.map(_busy, [2.0] * 8, pure=False)
        while not all(f.done() for f in futures):
            seen.append(_workers(client))
            time.sleep(0.2)
        pids = set(client.gather(futures))
        del futures  # results held by the client keep their workers alive
        assert max(seen) == 2 and len(pids) == 2  # grew to its maximum, never past it
        _until(lambda: _workers(client) == 0, 90, "back to the minimum of 0 workers")


RECIPE = """
name: elastic
task: classification
target: label
seed: 1
data:
  sources:
    rows: {{kind: csv, path: {path}}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.0}}
cv: {{kind: stratified_kfold, folds: 3}}
models:
  gbm:
    _target_: sklearn.ensemble.GradientBoostingClassifier
    max_depth: 3
    search: {{n_estimators: {{choice: [60, 80]}}, learning_rate: {{choice: [0.05, 0.1, 0.2]}}}}
sweep: {{strategy: grid, grow: false}}
select: {{metric: accuracy}}
cluster: {cluster}
deploy: {{enabled: false}}
"""


def _recipe(tmp_path: Path, cluster: str) -> Path:
    from sklearn.datasets import make_classification

    x, y = make_classification(4000, 10, n_informative=5, random_state=2)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(10)])
    frame["label"] = y
    frame.to_csv(tmp_path / "rows.csv", index=False)
    path = tmp_path / "elastic.yaml"
    path.write_text(RECIPE.format(path=tmp_path / "rows.csv", cluster=cluster))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_recipe_runs_on_an_adaptive_cluster(tmp_path: Path, home: Path) -> None:
    recipe = _recipe(tmp_path, "{kind: local, adaptive: {minimum: 1, maximum: 2}}")
    spec = api.validate(str(recipe))
    assert spec.cluster.adaptive == AdaptiveSpec(minimum=1, maximum=2)
    record = api.run(spec)
    assert record["status"] == "succeeded", record.get("error")
    assert len(record["leaderboard"]) == 6


def _fit_entries(cache: Path) -> dict[str, float]:
    """Finished fit entries -> their commit marker's mtime."""
    markers = {p.name: commit_marker(p) for p in cache.glob("fit.*")}
    return {key: m.stat().st_mtime for key, m in markers.items() if m is not None}


def _dask_workers() -> list[psutil.Process]:
    """This test's Dask worker processes: forked (or spawned) leaves under this process."""
    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
            if proc.children() or "resource_tracker" in cmd:
                continue
            if "forkserver" in cmd or "spawn_main" in cmd:
                out.append(proc)
        except psutil.NoSuchProcess:
            continue
    return out


def test_a_worker_killed_mid_run_costs_only_its_tasks(tmp_path: Path, home: Path) -> None:
    recipe = _recipe(tmp_path, "{kind: local, workers: 2}")
    cache = home / "cache"
    before_kill: dict[str, float] = {}
    killed: list[int] = []

    def kill_one_worker_after_the_first_fits() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = _fit_entries(cache) if cache.exists() else {}
            workers = _dask_workers()
            if len(done) >= 2 and workers:
                before_kill.update(done)
                victim = workers[0]
                killed.append(victim.pid)
                os.kill(victim.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker_after_the_first_fits, daemon=True)
    killer.start()
    record = api.run(api.validate(str(recipe)))
    killer.join()
    assert killed, "no worker was killed: the run ended before two fits were done"
    assert record["status"] == "succeeded", record.get("error")
    assert len(record["leaderboard"]) == 6  # every trial scored
    after = _fit_entries(cache)
    assert len(after) == 6 * 3
    # what finished before the kill was never computed again
    assert {k: after[k] for k in before_kill} == before_kill
    assert np.isfinite(record["test_metrics"]["accuracy"])
