"""Process hygiene: a smoke server never outlives the process that started it.

SIGTERM and SIGINT stop it (the signal handlers of :func:`stopped_on_signals`); after a
SIGKILL, which no handler sees, the server notices its parent is gone and stops its whole
process group. Checked on a stand-in parent and on a real ``sous run`` killed during its
smoke test: the server's port closes and none of its processes is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from serving_support import package_iris, sous_home

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 45  # generous: the server's watchdog polls every second, shutdown takes a few

HOLDER = """
import sys, time
from engine.serving.server import BentoServer, stopped_on_signals

env = {} if sys.argv[2] == "watched" else {"SOUS_PARENT_PID": ""}  # "": no watchdog
with stopped_on_signals(BentoServer(sys.argv[1], smoke=True, env=env)) as server, server:
    print(server.port, server.proc.pid, flush=True)
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def bento(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sous")
    with sous_home(home):
        _, packaged = package_iris()
        yield {"home": home, "tag": packaged.bento_tag}


def _group(pgid: int) -> list[int]:
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.info["pid"]) == pgid:
                out.append(p.info["pid"])
        except (ProcessLookupError, PermissionError):
            continue
    return out


def _open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _gone(pids: list[int], port: int) -> tuple[list[int], bool]:
    """Wait (at most BOUND_S) for ``pids`` to exit and ``port`` to close; what is left."""
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        left = [p for p in pids if psutil.pid_exists(p) and _not_zombie(p)]
        if not left and not _open(port):
            return [], False
        time.sleep(0.25)
    return [p for p in pids if psutil.pid_exists(p) and _not_zombie(p)], _open(port)


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_group(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name
)
def test_the_server_goes_with_its_parent(bento: dict[str, Any], sig: signal.Signals) -> None:
    # SIGTERM and SIGINT: the signal handlers alone (no watchdog); SIGKILL: the watchdog
    watched = "watched" if sig == signal.SIGKILL else "unwatched"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, bento["tag"], watched],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    pgid = 0
    try:
        assert holder.stdout is not None
        port_s, pgid_s = holder.stdout.readline().split()
        port, pgid = int(port_s), int(pgid_s)
        server = _group(pgid)
        assert server and _open(port)
        holder.send_signal(sig)
        code = holder.wait(timeout=60)  # reaped: the parent is really gone
        if sig == signal.SIGTERM:
            assert code == 128 + signal.SIGTERM  # the handler's exit, not death by signal
        left, listening = _gone(server, port)
        assert not left, f"orphaned server processes after {sig.name}: {left}"
        assert not listening, f"port {port} still open after {sig.name}"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if pgid:
            _kill_group([pgid])


def _serving_child(proc: psutil.Process) -> tuple[list[int], int] | None:
    """The smoke server under ``proc``, once it listens: (its group's pids, its port)."""
    for child in proc.children(recursive=True):
        try:
            if "bentoml" not in " ".join(child.cmdline()):
                continue
            pgid = os.getpgid(child.pid)
            ports = [
                c.laddr.port
                for pid in _group(pgid)
                for c in psutil.Process(pid).net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN
            ]
        except (psutil.Error, ProcessLookupError):
            continue
        if ports:
            return _group(pgid), ports[0]
    return None


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=lambda s: s.name)
def test_sous_run_killed_during_its_smoke_test_leaves_no_server(
    tmp_path: Path, sig: signal.Signals
) -> None:
    env = {**os.environ, "SOUS_HOME": str(tmp_path / "home"), "BENTOML_DO_NOT_TRACK": "True"}
    run = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "iris", "model=logreg", "cluster=sync"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    found = None
    try:
        proc = psutil.Process(run.pid)
        deadline = time.monotonic() + 240
        while found is None and run.poll() is None and time.monotonic() < deadline:
            found = _serving_child(proc)
            time.sleep(0.05)
        assert found is not None, "the smoke server was never seen listening: " + (
            run.stderr.read().decode()[-2000:] if run.poll() is not None and run.stderr else ""
        )
        pids, port = found
        run.send_signal(sig)
        code = run.wait(timeout=60)
        if sig == signal.SIGTERM:
            assert code == 128 + signal.SIGTERM  # stopped by its handler, not the default
        left, listening = _gone(pids, port)
        assert not left, f"orphaned server processes after {sig.name} of sous run: {left}"
        assert not listening, f"port {port} still open after {sig.name} of sous run"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if found:
            _kill_group(found[0])
