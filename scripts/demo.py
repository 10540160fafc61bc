"""`make demo`: run the iris recipe end to end, serve the winner, send one real request, stop.

Every stage goes through the `sous` command line, as a user would type it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SOUS = [sys.executable, "-m", "engine"]
RECIPE = os.environ.get("SOUS_DEMO_RECIPE", "iris")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sous(*args: str) -> None:
    print(f"\n$ sous {' '.join(args)}", flush=True)
    subprocess.run([*SOUS, *args], check=True, cwd=ROOT)


def example_record() -> dict[str, object]:
    """The first test-split row of the last run, as the served model's input record."""
    from engine import api
    from engine.home import cache_dir
    from engine.store.cache import ArtifactCache

    spec = api.validate(RECIPE)
    the_plan, _ = api.plan(spec)
    cache = ArtifactCache(cache_dir())
    frame = cache.load(the_plan.outputs["data"]).frame
    features = list(cache.load(the_plan.outputs["features"]))
    row = frame.iloc[int(cache.load(the_plan.outputs["split"]).test[0])]
    return {c: (row[c].item() if hasattr(row[c], "item") else row[c]) for c in features}


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server at {url} not ready after {timeout_s:.0f} s")


def main() -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    sous("run", RECIPE)
    sous("runs", "last")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"\n$ sous serve {RECIPE} --port {port}   (in the background)", flush=True)
    server = subprocess.Popen([*SOUS, "serve", RECIPE, "--port", str(port)], cwd=ROOT)
    try:
        wait_ready(url, server)
        record = example_record()
        print(f"\nPOST {url}/predict {json.dumps(record)}")
        reply = httpx.post(f"{url}/predict", json=record, timeout=30)
        reply.raise_for_status()
        print(f"-> {reply.status_code} {json.dumps(reply.json(), indent=2)}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        print(f"\nserver (pid {server.pid}) stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
