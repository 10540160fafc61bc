"""Serving benchmark: the Sous-generated service against hand-written BentoML services.

Same model (RandomForestClassifier(n_estimators=100) on the wine data), same machine, one
record per request, side by side in one invocation, at 1, 8 and 32 concurrent clients on
loopback, one worker each (``--workers N``: the Sous service with N, to see it scale):
  (a) sous     -- the Bento Sous builds (typed record, adaptive micro-batching, metrics)
  (b) minimal  -- one typed endpoint, no batching: what a user writes by hand (below)
  (c) batched  -- the same with BentoML's own adaptive batching (``batchable=True``)
Reports throughput (requests/s), p50 and p99 latency and errors per level, and checks the
targets of issues 6 and 16: >= 2x the minimal service's throughput at 32 clients, ahead of
the batched one at every level, p99 <= 100 ms at 8 and 32 clients, zero errors.
Run: `python benchmarks/bench_serving.py [--seconds S] [--workers N] [--json F]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LEVELS = (1, 8, 32)

# The hand-written peer: the smallest honest BentoML 1.4 service for this model.
MINIMAL_SERVICE = """
import cloudpickle
import pandas as pd
import bentoml
from pydantic import BaseModel, ConfigDict, create_model

with open({model_path!r}, "rb") as fh:
    MODEL = cloudpickle.load(fh)
COLUMNS = {columns!r}
Wine = create_model(
    "Wine",
    __config__=ConfigDict(extra="forbid"),
    **{{f"f{{i}}": (float, ...) for i in range(len(COLUMNS))}},
)


@bentoml.service
class Minimal:
    @bentoml.api
    def predict(self, record: Wine, /) -> dict:
        row = [getattr(record, f"f{{i}}") for i in range(len(COLUMNS))]
        df = pd.DataFrame([row], columns=COLUMNS)
        return {{"prediction": int(MODEL.predict(df)[0])}}


@bentoml.service
class Batched:
    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=10_000)
    def predict(self, records: list[Wine], /) -> list[dict]:
        rows = [[getattr(r, f"f{{i}}") for i in range(len(COLUMNS))] for r in records]
        df = pd.DataFrame(rows, columns=COLUMNS)
        return [{{"prediction": int(p)}} for p in MODEL.predict(df)]
"""


def train() -> tuple[Any, Any]:
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_wine(return_X_y=True, as_frame=True)
    return RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y), x


def start(cmd: list[str], env: dict[str, str], cwd: Path, url: str) -> subprocess.Popen[bytes]:
    import httpx

    log = open(cwd / f"server-{len(list(cwd.glob('server-*')))}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: see {log.name}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop(proc)
    raise RuntimeError(f"server not ready in 90 s: see {log.name}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def _client(url: str, bodies: Sequence[Any], stop_at: float, lat: list[float]) -> int:
    import httpx

    errors = 0
    i = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while time.monotonic() < stop_at:
            body = bodies[i % len(bodies)]
            i += 1
            t0 = time.perf_counter()
            r = await client.post("/predict", json=body)
            lat.append((time.perf_counter() - t0) * 1000.0)
            errors += r.status_code != 200
    return errors


def load(url: str, bodies: Sequence[Any], clients: int, seconds: float) -> dict[str, float]:
    """``clients`` concurrent clients posting one record at a time for ``seconds``, after a
    short unmeasured warm-up at the same concurrency."""

    async def drive(duration: float) -> tuple[list[float], int, float]:
        lat: list[float] = []
        t0 = time.monotonic()
        errs = await asyncio.gather(
            *(_client(url, bodies[c:] + bodies[:c], t0 + duration, lat) for c in range(clients))
        )
        return lat, sum(errs), time.monotonic() - t0

    asyncio.run(drive(min(2.0, seconds)))
    lat, errors, wall = asyncio.run(drive(seconds))
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "clients": clients,
        "requests": len(lat),
        "rps": len(lat) / wall,
        "p50_ms": statistics.median(lat),
        "p99_ms": q[98],
        "errors": errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="per level and service")
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--workers", type=int, default=1, help="deploy.bento.workers of Sous's")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sous-bench-serving-"))
    try:
        return run(work, args)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> int:
    os.environ["SOUS_HOME"] = str(work / "home")
    from engine.serving import BentoServer, FeatureField, package
    from engine.serving.server import free_port, server_env
    from engine.specs import BentoSpec, DeploySpec

    est, x = train()
    packaged = package(
        name="wine",
        estimator=est,
        task="classification",
        features=[FeatureField(c, "float") for c in x.columns],
        classes=list(est.classes_),
        metrics={},
        labels={"recipe": "bench"},
        deploy=DeploySpec(
            bento=BentoSpec(
                name="wine",
                batching={"max_batch_size": 64, "max_latency_ms": 10_000},
                workers=args.workers,
            )
        ),
    )
    import cloudpickle

    (work / "model.pkl").write_bytes(cloudpickle.dumps(est))
    (work / "minimal_service.py").write_text(
        MINIMAL_SERVICE.format(model_path=str(work / "model.pkl"), columns=list(x.columns))
    )
    records = x.sample(64, random_state=0).to_dict("records")
    sous_bodies = [{k: float(v) for k, v in r.items()} for r in records]
    minimal_bodies = [{f"f{i}": float(v) for i, v in enumerate(r.values())} for r in records]
    batched_bodies = [[b] for b in minimal_bodies]  # a batchable API takes a list

    results: dict[str, list[dict[str, float]]] = {}
    peers = {"minimal": ("Minimal", minimal_bodies), "batched": ("Batched", batched_bodies)}
    for name, (cls, bodies) in peers.items():
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "bentoml", "serve", f"minimal_service:{cls}"]
        proc = start([*cmd, "--port", str(port), "--host", "127.0.0.1"], server_env(), work, url)
        try:
            results[name] = [load(url, bodies, c, args.seconds) for c in LEVELS]
        finally:
            stop(proc)
    with BentoServer(packaged.bento_tag) as server:
        results["sous"] = [load(server.url, sous_bodies, c, args.seconds) for c in LEVELS]
    return report(results, args.json)


def report(results: dict[str, list[dict[str, float]]], out: Path | None) -> int:
    print(f"{'service':<8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, rows in results.items():
        for r in rows:
            print(
                f"{name:<8} {r['clients']:>7} {r['rps']:>8.1f} {r['p50_ms']:>8.1f} "
                f"{r['p99_ms']:>8.1f} {r['errors']:>6}"
            )
    by = {n: {r["clients"]: r for r in rows} for n, rows in results.items()}
    speedup = by["sous"][32]["rps"] / by["minimal"][32]["rps"]
    checks = {
        "throughput at 32 clients >= 2x minimal": speedup >= 2.0,
        **{
            f"throughput at {c} clients >= batched": by["sous"][c]["rps"] >= by["batched"][c]["rps"]
            for c in LEVELS
        },
        "p99 at 8 clients <= 100 ms": by["sous"][8]["p99_ms"] <= 100.0,
        "p99 at 32 clients <= 100 ms": by["sous"][32]["p99_ms"] <= 100.0,
        "zero errors": all(r["errors"] == 0 for rows in results.values() for r in rows),
    }
    print(f"\nsous / minimal throughput at 32 clients: {speedup:.2f}x")
    for c in LEVELS:
        print(f"sous / batched throughput at {c} clients: "
              f"{by['sous'][c]['rps'] / by['batched'][c]['rps']:.2f}x")  # fmt: skip
    for what, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {what}")
    if out:
        out.write_text(
            json.dumps({"results": results, "speedup_32": speedup, "checks": checks}, indent=2)
        )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
