"""External-memory XGBoost on a real LocalCluster with memory limits: each worker streams its
own parquet files, the workers all-reduce to one model trained on every row, a worker lost
mid-fit fails the fit promptly instead of hanging it, and an out-of-core recipe trains this
way through a run."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import RunError
from engine.specs import ClusterSpec
from tests.unit.scale.parquet_files import read, write

pytestmark = pytest.mark.slow

ROWS_PER_FILE = 2000


def _write(root: Path, name: str, count: int, seed: int) -> list[str]:
    return write(root, name, count, seed=seed, rows=ROWS_PER_FILE, width=6)


def _fit_in_a_task(train: list[str], valid: list[str]) -> object:
    """What a fit node does on a worker, holding that worker's only thread."""
    from engine.models.dask_xgboost import DaskXGBClassifier

    model = DaskXGBClassifier(
        n_estimators=60, max_depth=4, early_stopping_rounds=5, external_memory=True,
        random_state=0,
    )  # fmt: skip
    return model.fit_files(train, valid, read, width=6, classes=np.array([0.0, 1.0]))


@pytest.fixture
def cluster():  # type: ignore[no-untyped-def]
    from distributed import Client

    from engine.execution.cluster import local_cluster

    spec = ClusterSpec(workers=2, threads_per_worker=1, memory_limit="800MB")
    with local_cluster(spec, warm=False, dashboard=False) as lc, Client(lc) as client:
        yield client


def test_each_worker_streams_its_files_and_the_model_sees_every_row(
    cluster, tmp_path: Path
) -> None:
    train, valid = _write(tmp_path, "train", 6, 0), _write(tmp_path, "valid", 2, 1)
    model = cluster.submit(_fit_in_a_task, train, valid, pure=False).result(timeout=600)
    assert model.trained_on_ == 2  # one shard per worker, joined by the all-reduce
    assert model.rows_trained_ == 6 * ROWS_PER_FILE
    test_x, test_y = read(_write(tmp_path, "test", 1, 2)[0])
    assert (model.predict(test_x) == test_y).mean() > 0.85  # in this process, no cluster
    # each worker's scratch folder for quantised pages is gone after the fit
    leftovers = cluster.run(
        lambda dask_worker: list(Path(dask_worker.local_directory).glob("sous-xgb-*"))
    )
    assert all(found == [] for found in leftovers.values())


def _fit_auto(train: list[str], valid: list[str]) -> tuple[object, int | None]:
    from engine.models.dask_xgboost import DaskXGBClassifier
    from engine.models.xgb_external import smallest_memory_limit

    model = DaskXGBClassifier(n_estimators=20, early_stopping_rounds=5)  # external: auto
    from distributed import get_client

    limit = smallest_memory_limit(get_client())
    return model.fit_files(train, valid, read, width=6, classes=np.array([0.0, 1.0])), limit


def test_auto_trains_small_data_in_memory_as_dask_partitions(cluster, tmp_path: Path) -> None:
    """12,000 rows are far below half of an 800 MB worker: xgboost.dask on one partition
    per file, not external memory."""
    train, valid = _write(tmp_path, "train", 6, 0), _write(tmp_path, "valid", 2, 1)
    model, limit = cluster.submit(_fit_auto, train, valid, pure=False).result(timeout=600)
    assert limit == 800 * 10**6  # read from the workers themselves
    assert model.trained_on_ == 6  # Dask partitions, one per file
    assert model.rows_trained_ == 6 * ROWS_PER_FILE


def _slow_read(path: str) -> tuple[np.ndarray, np.ndarray]:
    Path(path + ".read").touch()  # tells the test that streaming has started
    time.sleep(1.0)
    return read(path)


def test_a_worker_lost_mid_fit_fails_the_fit_instead_of_hanging(cluster, tmp_path: Path) -> None:
    from engine.models.dask_xgboost import DaskXGBClassifier

    train, valid = _write(tmp_path, "train", 8, 0), _write(tmp_path, "valid", 2, 1)
    pids = cluster.run(os.getpid)
    victim = pids[sorted(pids)[1]]

    def kill_when_streaming() -> None:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("*.read")) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_streaming, daemon=True)
    killer.start()
    model = DaskXGBClassifier(n_estimators=200, external_memory=True)
    outcome: list[BaseException] = []

    def fit() -> None:  # from the driver: the two shard tasks run on the two workers
        try:
            model.fit_files(train, valid, _slow_read, width=6, classes=np.array([0.0, 1.0]))
        except BaseException as error:
            outcome.append(error)

    fitting = threading.Thread(target=fit, daemon=True)
    fitting.start()
    fitting.join(timeout=300)  # a hang guard, not a speed check: XGBoost alone waits forever
    killer.join(timeout=10)
    assert not fitting.is_alive(), "the fit hung after losing a worker"
    assert len(outcome) == 1 and isinstance(outcome[0], RunError), outcome
    assert "left the cluster during distributed XGBoost training" in str(outcome[0])
