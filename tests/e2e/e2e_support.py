"""Paths and commands shared by the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))


def sous_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def env_with(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SOUS_HOME": str(home),
            "SOUS_PII_SALT": "test-salt-not-secret",
            "BENTOML_DO_NOT_TRACK": "True",
        }
    )
    env.update(extra)
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    """Until the server at ``url`` answers /readyz; fails if ``proc`` exits first."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, f"the server process exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{url} not ready after {timeout_s:.0f} s"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
