"""cluster/scripts: a scheduler and workers as separate processes on loopback, started and
stopped by PID; the Dask launcher reaches them by address, resource annotations included."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra.test_utils.test_utils import TSweepRunner

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "cluster" / "scripts"


def _env(run_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    path = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update(
        RUN_DIR=str(run_dir), PORT="0", PYTHON=sys.executable, PYTHONPATH=os.pathsep.join(path)
    )
    env.update(extra)
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """A scheduler and two workers that advertise GPU=1, started by the script."""
    run_dir = tmp_path / "cluster"
    start = subprocess.run(
        [str(SCRIPTS / "start_local_cluster.sh"), "2"],
        env=_env(run_dir, WORKER_RESOURCES="GPU=1"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        assert start.returncode == 0, start.stderr
        pids = [int(p) for p in (run_dir / "pids").read_text().split()]
        yield (run_dir / "address").read_text().strip(), pids
    finally:
        stop = subprocess.run(
            [str(SCRIPTS / "stop_local_cluster.sh")],
            env=_env(run_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stop.returncode == 0, stop.stderr


def test_start_refuses_a_second_cluster_in_the_same_run_dir(
    cluster: tuple[str, list[int]], tmp_path: Path
) -> None:
    again = subprocess.run(
        [str(SCRIPTS / "start_local_cluster.sh"), "1"],
        env=_env(tmp_path / "cluster"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1
    assert "already running" in again.stderr


def test_stop_ends_every_process_it_started(tmp_path: Path) -> None:
    run_dir = tmp_path / "c2"
    subprocess.run(
        [str(SCRIPTS / "start_local_cluster.sh"), "1"],
        env=_env(run_dir),
        check=True,
        capture_output=True,
        timeout=180,
    )
    pids = [int(p) for p in (run_dir / "pids").read_text().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    subprocess.run(
        [str(SCRIPTS / "stop_local_cluster.sh")], env=_env(run_dir), check=True, timeout=60
    )
    assert not any(_alive(p) for p in pids)
    assert not (run_dir / "pids").exists()


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_the_launcher_runs_jobs_on_the_remote_workers(
    cluster: tuple[str, list[int]], hydra_sweep_runner: TSweepRunner, tmp_path: Path
) -> None:
    address, _ = cluster

    def where(_cfg: Any) -> str:  # defined here: pickled by value, no import on the worker
        from distributed import get_worker

        return str(get_worker().name)

    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=where,
        config_path="configs",
        config_name="compose.yaml",
        overrides=[
            "hydra/launcher=dask",
            f"hydra.launcher.address={address}",
            "+hydra.launcher.resources.GPU=1",
            "+a=0,1,2,3",
        ],
        temp_dir=tmp_path / "sweep",
    )
    with sweep:
        names = {r.return_value for r in sweep.returns[0]}
    assert names <= {"worker-0", "worker-1"} and names
