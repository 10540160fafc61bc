"""The web UI with 1,000 runs in the database: start time and page load times.

    python benchmarks/bench_ui.py [--runs 1000] [--repeat 20] [--profile] [--log-rows N]

Fills a fresh ``$SOUS_HOME`` with run records shaped like a real iris sweep (14 trials, 40
steps, a profile), starts ``sous ui`` as a user would, and measures over HTTP on loopback:
the time from launching the process to the first Runs page (the newest 100 runs; the server
parses the rest in the background), and the median and p95 of each page afterwards. Targets
(issue 14): first page under 2 s, a page under 300 ms with 1,000 runs.

``--log-rows N`` (default 1,000,000) also gives a model version a two-week request log of N
rows and times its Monitoring page (fourteen one-day windows): cold, reloaded, and reloaded
after new traffic in the current window (only that window is checked again).

``--profile`` starts the server once more under ``python -X importtime`` and prints what
its start imports, as shares of the total: on a loaded machine the seconds stretch, the
shares barely move.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START_TARGET_S, PAGE_TARGET_MS = 2.0, 300.0


def fake_record(i: int, rng: random.Random) -> dict[str, Any]:
    """A run record as large as a real 14-trial iris sweep's."""
    metrics = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")
    board = []
    for t in range(14):
        model = "rf" if t % 2 else "logreg"
        scores = {m: rng.uniform(0.8, 1.0) for m in metrics}
        board.append(
            {
                "model": model,
                "params": {"n_estimators": 20 + 10 * t, "max_depth": t % 4 or None},
                "metrics": scores,
                "metrics_std": {m: rng.uniform(0, 0.05) for m in metrics},
                "folds": [scores],
            }
        )
    board.sort(key=lambda e: -e["metrics"]["f1"])
    steps = [
        {
            "name": f"step:{s}",
            "key": f"step.{s}-{i:016x}",
            "cached": s < 6,
            "wall_s": 0.1,
            "cpu_s": 0.1,
            "peak_mem_mb": 200.0,
            "rows": 150,
        }
        for s in range(40)
    ]
    day = 1 + i % 28
    columns = {
        f"col{c}": {
            "name": f"col{c}",
            "dtype": "float64",
            "count": 150,
            "nulls": 0,
            "numeric": {
                "bin_edges": [float(x) for x in range(11)],
                "bin_counts": [rng.randint(0, 30) for _ in range(10)],
            },
        }
        for c in range(5)
    }
    return {
        "run_id": f"202611{day:02d}-{i:06d}-{i:06x}",
        "recipe": rng.choice(["iris", "churn", "fraud", "diabetes"]),
        "status": rng.choice(["succeeded"] * 8 + ["failed"]),
        "started_at": f"2026-11-{day:02d}T10:{i % 60:02d}:00.000+00:00",
        "finished_at": f"2026-11-{day:02d}T10:{i % 60:02d}:30.000+00:00",
        "config": {
            "name": "iris",
            "seed": i,
            "models": {"rf": {"n_estimators": 50}},
            "split": {"test_size": 0.2},
            "sweep": {"strategy": "grid"},
        },
        "leaderboard": board,
        "winner": board[0],
        "select_metric": "f1",
        "test_metrics": board[0]["metrics"],
        "bento": f"iris:{i:08x}",
        "steps": steps,
        "data": {"rows_in": 150, "rows_out": 150, "quarantined": 0},
        "profile": {"rows": 150, "columns": columns},
        "cost": {"cpu_s": 4.0, "wall_s": 4.0, "estimate": 0.0001, "currency": "USD"},
        "log": None,
        "error": None,
    }


def fill(home: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` run records in the runs database under ``home``; returns their ids."""
    os.environ["SOUS_HOME"] = str(home)
    from engine.store.runs import RunsDB

    db = RunsDB(f"sqlite:///{home / 'runs.db'}")
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        rec = fake_record(i, rng)
        db.start(rec)
        ids.append(rec["run_id"])
    return ids


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def fill_monitoring(home: Path, rows: int, days: int = 14, files_per_day: int = 8) -> float:
    """A version ``bench:v1`` with a reference (as packaging writes it) and a request log of
    ``rows`` rows over the last ``days`` days; returns the time of the newest row."""
    os.environ["SOUS_HOME"] = str(home)
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.drift.reference import REFERENCE_FILE, build_reference
    from engine.home import bentoml_home, private_dir
    from engine.monitor.locate import request_log_dir
    from engine.store import registry

    rng = np.random.default_rng(0)
    numeric = [f"x{i}" for i in range(8)]
    ref_rows = pd.DataFrame({c: rng.normal(size=5000) for c in numeric})
    ref_rows["region"] = rng.choice(["north", "south", "east"], 5000)
    ref = build_reference(ref_rows, [*numeric, "region"], rng.integers(0, 2, 5000),
                          {"accuracy": 0.9}, None, classes=[0, 1])  # fmt: skip
    where = bentoml_home() / "models" / "bench" / "v1"  # BentoML's layout, see monitor/locate
    where.mkdir(parents=True)
    (where / REFERENCE_FILE).write_text(ref.to_json())
    registry.record_version("bench", "v1", model_tag="bench:v1", bento_tag=None,
                            metrics={"accuracy": 0.9}, labels={})  # fmt: skip
    logs = request_log_dir("bench")
    private_dir(logs)
    n_files = days * files_per_day
    per_file, span = max(rows // n_files, 1), 86400.0 / files_per_day
    start = time.time() - days * 86400.0
    for f in range(n_files):
        cols: dict[str, Any] = {c: rng.normal(0.3 * f / n_files, 1.0, per_file) for c in numeric}
        cols["region"] = rng.choice(["north", "south", "east"], per_file)
        cols["_ts"] = np.sort(start + f * span + rng.uniform(0, span, per_file))
        cols["_prediction"] = rng.choice(["0", "1"], per_file)
        cols["_version"] = np.full(per_file, "v1")
        cols["_role"] = np.full(per_file, "served")
        cols["_variant"] = np.full(per_file, "champion")
        cols["_latency_ms"] = rng.uniform(1, 5, per_file)
        pq.write_table(pa.table(cols), logs / f"requests-bench-{f:05d}.parquet")
    return float(cols["_ts"][-1])


def bench_monitoring(http: Any, home: Path, repeat: int) -> dict[str, list[float]]:
    """The Monitoring page of ``bench``: cold, warm, and after one more file of traffic."""
    import shutil

    from engine.monitor.locate import request_log_dir

    def page() -> float:
        t0 = time.perf_counter()
        http.get("/monitoring/bench", params={"version": "v1"}).raise_for_status()
        return (time.perf_counter() - t0) * 1000.0

    cold = [page()]
    warm = [page() for _ in range(repeat)]
    logs = request_log_dir("bench")
    newest = sorted(logs.glob("*.parquet"))[-1]
    shutil.copy(newest, logs / "requests-bench-new.parquet")  # more rows, current window
    return {"cold (every window checked)": cold, "reloaded (cached)": warm,
            "after new traffic": [page()]}  # fmt: skip


def import_profile(stderr: str, top: int = 12) -> list[tuple[str, float, float]]:
    """(module, cumulative seconds, share of all import time) of the imports made at the top
    of the tree (the command itself, or a function-level import), largest first, from
    ``-X importtime`` output."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue  # the header line
        if name.startswith(" ") and not name.startswith("  "):  # one space: a top level
            rows.append((name.strip(), int(cumulative) / 1e6))
    total = sum(s for _, s in rows) or 1.0
    rows.sort(key=lambda r: -r[1])
    return [(n, s, s / total) for n, s in rows[:top]]


def profile_start(env: dict[str, str]) -> list[tuple[str, float, float]]:
    """Start ``sous ui`` under ``-X importtime`` until it answers the Runs page."""
    from e2e_support import free_port

    port = free_port()
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: nothing blocks the server
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "engine", "ui", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            wait_for_page(f"http://127.0.0.1:{port}")
        finally:
            stop(proc)
        err.seek(0)
        return import_profile(err.read())


def wait_for_page(url: str) -> float:
    """Poll the Runs page until it answers; returns the last (successful) request's ms."""
    import httpx

    with httpx.Client(base_url=url, timeout=60) as http:
        while True:
            try:
                t0 = time.perf_counter()
                http.get("/runs").raise_for_status()
                return (time.perf_counter() - t0) * 1000.0
            except httpx.TransportError:
                time.sleep(0.02)


def stop(proc: subprocess.Popen[Any]) -> None:
    """The server and anything it started (its own session)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def report(
    start_s: float,
    cold_ms: float,
    pages: dict[str, list[float]],
    n_runs: int,
    baseline_s: float | None = None,
) -> None:
    print(f"sous ui with {n_runs} runs in the database")
    if baseline_s is not None:  # how fast this machine starts Python and Sous right now
        print(f"  reference: `sous --version` takes {baseline_s:.2f} s here")
    mark = "ok" if start_s < START_TARGET_S else "OVER"
    print(f"  start to first Runs page: {start_s:.2f} s (target < {START_TARGET_S:.0f} s: {mark})")
    print(f"  of which the first, cold, Runs page: {cold_ms:.0f} ms")
    print(f"  {'page':<28} {'median':>8} {'p95':>8}  (target < {PAGE_TARGET_MS:.0f} ms)")
    for name, ms in pages.items():
        p95 = sorted(ms)[max(int(len(ms) * 0.95) - 1, 0)]
        flag = "" if p95 < PAGE_TARGET_MS else "  OVER"
        print(f"  {name:<28} {statistics.median(ms):>6.1f}ms {p95:>6.1f}ms{flag}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--profile", action="store_true", help="print what the start imports")
    ap.add_argument("--log-rows", type=int, default=1_000_000, help="0: no Monitoring page")
    args = ap.parse_args()
    import httpx

    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from e2e_support import free_port

    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "engine", "--version"], check=True, stdout=subprocess.DEVNULL
    )
    baseline_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "sous"
        ids = fill(home, args.runs)
        port = free_port()
        env = {**os.environ, "SOUS_HOME": str(home)}
        url = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "ui", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            cold_ms = wait_for_page(url)
            start_s = time.perf_counter() - t0
            with httpx.Client(base_url=url, timeout=60) as http:
                one, two = ids[len(ids) // 2], ids[len(ids) // 3]

                def get(path: str) -> Callable[[], Any]:
                    return lambda: http.get(path).raise_for_status()

                pages = {
                    "runs (newest 100 shown)": get("/runs"),
                    "runs filtered + sorted": get("/runs?recipe=iris&metric=f1&min=0.9&sort=score"),
                    "runs search": get(f"/runs?q={one[-6:]}"),
                    "run": get(f"/runs/{one}"),
                    "sweep of a run": get(f"/runs/{one}/sweep"),
                    "compare 2 runs": get(f"/compare?id={one}&id={two}"),
                    "models": get("/models"),
                    "monitoring (index)": get("/monitoring"),
                    "api/runs (json)": get("/api/runs?limit=1000"),
                }
                timings = {k: timed(f, args.repeat) for k, f in pages.items()}
                report(start_s, cold_ms, timings, args.runs, baseline_s)
                if args.log_rows:
                    fill_monitoring(home, args.log_rows)
                    watched = bench_monitoring(http, home, min(args.repeat, 5))
                    print(f"  Monitoring page, {args.log_rows:,} logged rows over 14 days:")
                    for name, ms in watched.items():
                        print(f"  {name:<28} {statistics.median(ms):>6.0f}ms")
        finally:
            stop(proc)
        if args.profile:
            print("  what the start imports (top level, cumulative; shares of all imports):")
            for name, seconds, share in profile_start(env):
                print(f"    {name:<34} {seconds:>6.3f} s {100 * share:>5.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
