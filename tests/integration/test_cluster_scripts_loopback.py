"""start_local_cluster.sh promises loopback only: every socket its processes listen on
(scheduler, workers, nannies and their dashboards) is bound to 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "cluster" / "scripts"


def _env(run_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    path = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update(
        RUN_DIR=str(run_dir), PORT="0", PYTHON=sys.executable, PYTHONPATH=os.pathsep.join(path)
    )
    return env


def _listening(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket of ``pids`` and their children."""
    out = []
    procs = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs += [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for p in procs:
        try:
            conns = p.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        out += [(p.pid, c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    return out


def test_every_listening_socket_is_on_loopback(tmp_path: Path) -> None:
    run_dir = tmp_path / "cluster"
    start = subprocess.run(
        [str(SCRIPTS / "start_local_cluster.sh"), "1"],
        env=_env(run_dir),
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        assert start.returncode == 0, start.stderr
        pids = [int(p) for p in (run_dir / "pids").read_text().split()]
        sockets = _listening(pids)
        # scheduler + its dashboard, worker + nanny + the worker's dashboard
        assert len(sockets) >= 4, sockets
        exposed = [s for s in sockets if s[1] != "127.0.0.1"]
        assert not exposed, f"listening beyond loopback: {exposed}"
    finally:
        stop = subprocess.run(
            [str(SCRIPTS / "stop_local_cluster.sh")],
            env=_env(run_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stop.returncode == 0, stop.stderr
