"""Restart benchmark: a served model restarted gracefully under load (issue 16).

The wine RandomForestClassifier(100) is packaged with the request log on and served by a real
``bentoml serve``; ``--clients`` threads post one record at a time, each retrying a request
that got no answer (a refused or reset connection: predicting again is harmless). After
``--seconds`` the server gets SIGTERM with requests in flight (it drains them and flushes its
request log), a new server starts on the same port, and the load runs ``--seconds`` more.
Prints the requests answered, failed (any answer but 200, or an error that is not a
connection error), retried, the answers missing from the request log, how long clients saw
no answer, and the throughput before and after. Targets: zero failed requests, zero lost
log rows. Exit 1 when one is missed.

Full run: `python benchmarks/bench_restart.py` (~1 minute). Quick: `--quick` (3 s a phase).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


class Client(threading.Thread):
    """Posts one record at a time until stopped; retries on connection errors only."""

    def __init__(self, url: str, bodies: Sequence[dict[str, float]], stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.bodies, self.stop = url, bodies, stop
        self.ok: list[tuple[float, str]] = []  # (answered at, request id)
        self.failed: list[str] = []
        self.retries = 0

    def run(self) -> None:
        import httpx

        retryable = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError,
                     httpx.WriteError)  # fmt: skip
        with httpx.Client(base_url=self.url, timeout=60) as client:
            i = 0
            while not self.stop.is_set():
                body = self.bodies[i % len(self.bodies)]
                i += 1
                deadline = time.monotonic() + 120
                while True:
                    try:
                        r = client.post("/predict", json=body)
                    except retryable:
                        self.retries += 1
                        if time.monotonic() > deadline:
                            self.failed.append("no answer in 120 s")
                            break
                        time.sleep(0.05)
                        continue
                    except httpx.HTTPError as exc:
                        self.failed.append(repr(exc))
                        break
                    if r.status_code == 200:
                        self.ok.append((time.monotonic(), r.json()["request_id"]))
                    else:
                        self.failed.append(f"HTTP {r.status_code}: {r.text[:200]}")
                    break


def logged_ids(directory: Path) -> set[str]:
    import pandas as pd

    files = sorted(directory.glob("*.parquet"))
    if not files:
        return set()
    frame = pd.concat([pd.read_parquet(f, columns=["_request_id"]) for f in files])
    return {str(v) for v in frame["_request_id"].dropna()}


def longest_gap(times: Sequence[float], start: float, end: float) -> float:
    """The longest time in [start, end] with no answer to any client."""
    marks = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(marks))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="full: `python benchmarks/bench_restart.py`; quick: `--quick`.",
    )
    ap.add_argument("--seconds", type=float, default=10.0, help="load before and after")
    ap.add_argument("--quick", action="store_true", help="3 s before and after")
    ap.add_argument("--clients", type=int, default=8, help="concurrent retrying clients")
    ap.add_argument("--workers", type=int, default=1, help="deploy.bento.workers")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = 3.0
    work = Path(tempfile.mkdtemp(prefix="sous-bench-restart-"))
    try:
        return run(work, args)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> int:
    os.environ["SOUS_HOME"] = str(work / "home")
    from bench_serving import train

    from engine.serving import BentoServer, FeatureField, package
    from engine.specs import BentoSpec, DeploySpec

    est, x = train()
    tag = package(
        name="wine",
        estimator=est,
        task="classification",
        features=[FeatureField(c, "float") for c in x.columns],
        classes=list(est.classes_),
        metrics={},
        labels={"recipe": "bench"},
        deploy=DeploySpec(bento=BentoSpec(name="wine", workers=args.workers), log_requests=True),
    ).bento_tag
    bodies = [{k: float(v) for k, v in r.items()} for r in x.sample(64, random_state=0).to_dict("records")]  # fmt: skip
    stop = threading.Event()
    first = BentoServer(tag)
    with first:
        clients = [Client(first.url, bodies[c:] + bodies[:c], stop) for c in range(args.clients)]
        for c in clients:
            c.start()
        try:
            time.sleep(args.seconds)
            t_stop = time.monotonic()
            first.stop()  # SIGTERM to the whole group, requests in flight
            t_down = time.monotonic()
            with BentoServer(tag, port=first.port) as second:
                t_up = time.monotonic()
                time.sleep(args.seconds)
                stop.set()
                for c in clients:
                    c.join(timeout=120)
                t_end = time.monotonic()
                second.stop()  # drains and flushes the second server's log
        finally:
            stop.set()
    answered = [rid for c in clients for _, rid in c.ok]
    times = [t for c in clients for t, _ in c.ok]
    failed = [f for c in clients for f in c.failed]
    lost = set(answered) - logged_ids(work / "home" / "serving" / "wine" / "requests")
    before = sum(1 for t in times if t < t_stop) / args.seconds
    after = sum(1 for t in times if t >= t_up) / max(1e-9, t_end - t_up)
    figures = {
        "requests answered": len(answered),
        "requests failed": len(failed),
        "connection retries": sum(c.retries for c in clients),
        "answers missing from the request log": len(lost),
        "drain (SIGTERM to exit), s": round(t_down - t_stop, 2),
        "restart (exit to ready), s": round(t_up - t_down, 2),
        "longest time without an answer, s": round(longest_gap(times, t_stop, t_end), 2),
        "throughput before, req/s": round(before, 1),
        "throughput after, req/s": round(after, 1),
    }
    print(f"restart under load: {args.clients} clients, {args.workers} worker(s)")
    for what, value in figures.items():
        print(f"  {what:<40} {value}")
    for f in failed[:5]:
        print(f"  failed: {f}")
    checks = {"zero failed requests": not failed, "zero lost request-log rows": not lost,
              "requests answered on both sides": before > 0 and after > 0}  # fmt: skip
    for what, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {what}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
