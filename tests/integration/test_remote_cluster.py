"""A real Dask cluster: scheduler and workers as separate processes on loopback.

The same recipe gives identical metrics on it as on the local cluster, and a worker killed in
the middle of a sweep does not change the leaderboard (Dask reschedules its tasks).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import api
from engine.store.cache import commit_marker

DASK = str(Path(sys.executable).with_name("dask"))
SWEEP = [
    "sweep=random",
    "sweep.trials=10",
    "+cv.kind=stratified_kfold",
    "+cv.folds=3",
    "deploy=none",
]


class Cluster:
    def __init__(self, tmp: Path, workers: int):
        self.tmp = tmp
        self.file = tmp / "scheduler.json"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.n = workers

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"proc-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([DASK, *args], stdout=log, stderr=log, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self) -> str:
        self._spawn(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            ":0",
            "--scheduler-file",
            str(self.file),
        )
        deadline = time.monotonic() + 60
        while not self.file.exists():
            assert time.monotonic() < deadline, "scheduler did not start"
            time.sleep(0.1)
        for _ in range(self.n):
            self.workers.append(
                self._spawn(
                    "worker",
                    "--scheduler-file",
                    str(self.file),
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                )
            )
        import json

        from distributed import Client

        address = json.loads(self.file.read_text())["address"]
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(self.n, timeout=60)
        return str(address)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Cluster, str]]:
    c = Cluster(tmp_path, workers=2)
    try:
        yield c, c.start()
    finally:
        c.stop()


def board(record: dict) -> list:
    return [(e["model"], e["params"], e["metrics"]) for e in record["leaderboard"]]


@pytest.mark.slow
def test_remote_cluster_matches_local(cluster, tmp_path, monkeypatch) -> None:
    _, address = cluster
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "remote"))
    remote = api.run(
        api.validate("iris", ["deploy=none", "cluster=remote", f"cluster.address={address}"])
    )
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "local"))
    local = api.run(api.validate("iris", ["deploy=none", "cluster=local"]))
    assert board(remote) == board(local)
    assert remote["test_metrics"] == local["test_metrics"]


@pytest.mark.slow
def test_worker_killed_during_sweep_same_leaderboard(cluster, tmp_path, monkeypatch) -> None:
    c, address = cluster
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "reference"))
    reference = api.run(api.validate("iris", [*SWEEP, "cluster=sync"]))

    home = tmp_path / "faulty"
    monkeypatch.setenv("SOUS_HOME", str(home))
    victim = c.workers[0]

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(commit_marker(p) is not None for p in (home / "cache").glob("fit.*")) >= 3:
                os.killpg(victim.pid, signal.SIGKILL)
                return
            time.sleep(0.02)

    import threading

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    faulty = api.run(api.validate("iris", [*SWEEP, "cluster=remote", f"cluster.address={address}"]))
    killer.join(timeout=5)
    assert victim.poll() is not None, "the worker was not killed during the run"
    assert board(faulty) == board(reference)
    assert faulty["test_metrics"] == reference["test_metrics"]
