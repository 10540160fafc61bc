"""Serving benchmark: the Sous-generated service against hand-written BentoML services.

Same model (RandomForestClassifier(n_estimators=100) on the wine data), same machine, one
record per request, side by side in one invocation, at 1, 8 and 32 concurrent clients on
loopback, one worker each:
  (a) sous     -- the Bento Sous builds (typed record, adaptive micro-batching, metrics)
  (b) minimal  -- one typed endpoint, no batching: what a user writes by hand (below)
  (c) batched  -- the same with BentoML's own adaptive batching (``batchable=True``,
                  max_batch_size 64 and max_latency_ms 10,000: the budget Sous's has)
  (d) sous-2w  -- the Sous Bento with ``deploy.bento.workers: 2`` (how it scales on 2 cores)
Reports throughput (requests/s), p50 and p99 latency, errors, and the server's CPU time per
request (all its processes, from /proc: the figure that stays comparable when other work
shares the cores). Checks the targets of issues 6 and 16: >= 2x the minimal service's
throughput at 32 clients, ahead of the batched one at every level, p99 <= 100 ms at 8 and 32
clients, zero errors. Exit 1 when a target is missed.

The load generator is a plain asyncio HTTP/1.1 keep-alive client (one connection per
client, opened before the clock starts), ~0.2 ms of CPU per request, so that on a 2-core
machine the client takes little from the server it measures (httpx takes ~4 ms).

Full run (quiet cores, ~3 minutes): `python benchmarks/bench_serving.py`
Quick run (~1 minute; shared cores: read the CPU/request column and the ratios):
  `python benchmarks/bench_serving.py --quick`
Options: `--seconds S` per level and service, `--only sous,batched`, `--json F`.
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
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def cpu_seconds(root: int) -> float:
    """User + system CPU time of process ``root`` and every live descendant (a server: the
    arbiter and its workers)."""
    import psutil

    total = 0.0
    try:
        procs = [psutil.Process(root)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return total
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def requests_of(url: str, path: str, bodies: Sequence[Any]) -> list[bytes]:
    """Each body as the bytes of one keep-alive HTTP/1.1 POST."""
    host = urlsplit(url).netloc
    out = []
    for body in bodies:
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n"
        )
        out.append(head.encode() + data)
    return out


async def _client(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    reqs: Sequence[bytes],
    stop_at: float,
    lat: list[float],
) -> int:
    """One client: a request, its whole answer, the next request, until ``stop_at``."""
    reader, writer = conn
    errors = 0
    i = 0
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        writer.write(reqs[i % len(reqs)])
        i += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        lat.append((time.perf_counter() - t0) * 1000.0)
        errors += head.split(b" ", 2)[1] != b"200"
    return errors


def load(
    url: str,
    bodies: Sequence[Any],
    clients: int,
    seconds: float,
    cpu: Callable[[], float] | None = None,
) -> dict[str, float]:
    """``clients`` concurrent clients posting one record at a time for ``seconds``, after a
    short unmeasured warm-up at the same concurrency; ``cpu()``: the server's CPU seconds."""
    u = urlsplit(url)
    reqs = requests_of(url, "/predict", bodies)

    async def drive() -> tuple[list[float], int, float, float]:
        conns = [await asyncio.open_connection(u.hostname, u.port) for _ in range(clients)]
        try:
            for duration in (min(2.0, seconds), seconds):  # warm-up, then measured
                lat: list[float] = []
                c0 = cpu() if cpu else 0.0
                t0 = time.monotonic()
                errs = await asyncio.gather(
                    *(
                        _client(conn, reqs[c:] + reqs[:c], t0 + duration, lat)
                        for c, conn in enumerate(conns)
                    )
                )
                wall = time.monotonic() - t0
                used = (cpu() if cpu else 0.0) - c0
            return lat, sum(errs), wall, used
        finally:
            for _, writer in conns:
                writer.close()

    lat, errors, wall, used = asyncio.run(drive())
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "clients": clients,
        "requests": len(lat),
        "rps": len(lat) / wall,
        "p50_ms": statistics.median(lat),
        "p99_ms": q[98],
        "errors": errors,
        "cpu_ms": used * 1000.0 / max(1, len(lat)),
    }


SERVICES = ("minimal", "batched", "sous", "sous-2w")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="full: `python benchmarks/bench_serving.py` (10 s per point, ~3 min); quick: "
        "`--quick` (2 s per point, ~1 min). On shared cores compare the cpu ms/req column "
        "and the ratios of one invocation, not absolute req/s.",
    )
    ap.add_argument("--seconds", type=float, default=10.0, help="per level and service")
    ap.add_argument("--quick", action="store_true", help="2 s per level and service")
    ap.add_argument("--only", default=",".join(SERVICES), help="services, comma-separated")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = 2.0
    args.only = [s for s in args.only.split(",") if s]
    unknown = set(args.only) - set(SERVICES)
    if unknown:
        ap.error(f"unknown service(s) {sorted(unknown)}: choose from {SERVICES}")

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

    def packaged(workers: int) -> str:
        return package(
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
                    workers=workers,
                )
            ),
        ).bento_tag

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
        if name not in args.only:
            continue
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "bentoml", "serve", f"minimal_service:{cls}"]
        proc = start([*cmd, "--port", str(port), "--host", "127.0.0.1"], server_env(), work, url)
        try:
            root = proc.pid
            results[name] = [
                load(url, bodies, c, args.seconds, partial(cpu_seconds, root)) for c in LEVELS
            ]
        finally:
            stop(proc)
    for name, workers in (("sous", 1), ("sous-2w", 2)):
        if name not in args.only:
            continue
        with BentoServer(packaged(workers)) as server:
            assert server.proc is not None
            root = server.proc.pid
            results[name] = [
                load(server.url, sous_bodies, c, args.seconds, partial(cpu_seconds, root))
                for c in LEVELS
            ]
    return report(results, args.json)


def report(results: dict[str, list[dict[str, float]]], out: Path | None) -> int:
    print(
        f"{'service':<8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6} {'cpu ms/req':>10}"
    )
    for name, rows in results.items():
        for r in rows:
            print(
                f"{name:<8} {r['clients']:>7} {r['rps']:>8.1f} {r['p50_ms']:>8.1f} "
                f"{r['p99_ms']:>8.1f} {r['errors']:>6} {r.get('cpu_ms', float('nan')):>10.2f}"
            )
    by = {n: {r["clients"]: r for r in rows} for n, rows in results.items()}
    checks: dict[str, bool] = {}
    ratios: dict[str, float] = {}
    if "sous" in by and "minimal" in by:
        ratios["sous / minimal throughput at 32 clients"] = (
            by["sous"][32]["rps"] / by["minimal"][32]["rps"]
        )
        checks["throughput at 32 clients >= 2x minimal"] = (
            ratios["sous / minimal throughput at 32 clients"] >= 2.0
        )
    if "sous" in by and "batched" in by:
        for c in LEVELS:
            s, b = by["sous"][c], by["batched"][c]
            ratios[f"sous / batched throughput at {c} clients"] = s["rps"] / b["rps"]
            if s.get("cpu_ms") and b.get("cpu_ms"):
                ratios[f"batched / sous server CPU per request at {c} clients"] = (
                    b["cpu_ms"] / s["cpu_ms"]
                )
            checks[f"throughput at {c} clients >= batched"] = s["rps"] >= b["rps"]
    if "sous" in by:
        checks["p99 at 8 clients <= 100 ms"] = by["sous"][8]["p99_ms"] <= 100.0
        checks["p99 at 32 clients <= 100 ms"] = by["sous"][32]["p99_ms"] <= 100.0
    if "sous" in by and "sous-2w" in by:
        for c in LEVELS:
            ratios[f"2 workers / 1 worker throughput at {c} clients"] = (
                by["sous-2w"][c]["rps"] / by["sous"][c]["rps"]
            )
    checks["zero errors"] = all(r["errors"] == 0 for rows in results.values() for r in rows)
    print()
    for what, value in ratios.items():
        print(f"{what}: {value:.2f}x")
    for what, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {what}")
    if out:
        out.write_text(
            json.dumps({"results": results, "ratios": ratios, "checks": checks}, indent=2)
        )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
