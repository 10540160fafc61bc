"""Shared set-up for the stream tests: a real redis-server on a free loopback port, the
card_stream model trained by `sous run`, live events, and reading a parquet sink."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "card_stream.yaml"
SOUS = [sys.executable, "-m", "engine"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server (Debian's package) on 127.0.0.1; its URL. Skips the test
    when the binary is missing (scripts/start_redis.sh installs it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="sous-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        client = redis.Redis.from_url(url)
        for _ in range(200):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def make_data() -> Any:
    path = ROOT / "recipes" / "data" / "card_stream" / "make_data.py"
    spec = importlib.util.spec_from_file_location("card_stream_make_data", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def live_events(n: int, seed: int = 11) -> list[dict[str, Any]]:
    frame = make_data().events(n, seed=seed, start="2026-04-01T00:00:00Z").drop(columns="is_fraud")
    return list(frame.to_dict("records"))


def produce(url: str, stream: str, events: Sequence[dict[str, Any]]) -> None:
    import redis

    client = redis.Redis.from_url(url)
    with client.pipeline(transaction=False) as pipe:
        for e in events:
            pipe.xadd(stream, {"data": json.dumps(e)})
        pipe.execute()
    client.close()


def train(home: Path) -> None:
    """`sous run card_stream` (Bento built, promoted to staging; no smoke server)."""
    subprocess.run(
        [*SOUS, "run", str(RECIPE), "deploy.smoke=false", "cluster=sync"],
        env=env(home), check=True, capture_output=True, timeout=600,
    )  # fmt: skip


def env(home: Path, **extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out.update(SOUS_HOME=str(home), BENTOML_DO_NOT_TRACK="True", **extra)
    return out


def stream_cmd(url: str, stream: str, group: str, sink: Path, *more: str) -> list[str]:
    return [
        *SOUS, "stream", str(RECIPE),
        f"stream.source.url={url}", f"stream.source.stream={stream}",
        f"stream.source.group={group}", f"+stream.sink.path={sink}",
        f"+stream.dead_letter.path={sink}-dead", *more,
    ]  # fmt: skip


def read_sink(path: Path) -> Any:
    import pandas as pd

    files = sorted(p for p in Path(path).rglob("*.parquet") if "_staging" not in p.parts)
    if not files:
        return pd.DataFrame(columns=["event_id", "prediction"])
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
