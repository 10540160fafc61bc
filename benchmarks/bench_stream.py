"""Stream scoring benchmark: Sous's stream vs a hand-written redis-py consumer loop.

    python benchmarks/bench_stream.py                 # 100k events, as issue 13 asks
    python benchmarks/bench_stream.py --events 20000 --rate-seconds 10     # a quicker run

Both score the same wine ``RandomForestClassifier(n_estimators=100)`` from the same Redis
stream (a real redis-server on loopback: ``$SOUS_TEST_REDIS_URL``, else one started here):

  sous   engine.stream consumers (micro-batches, checkpointed, exactly once, parquet sink),
         the model loaded from the registry as `sous stream` does; N consumers = N processes
  loop   XREADGROUP one entry, predict_proba on it, append the result, XACK; N processes

Measured, for 1 and 2 consumers:
  saturation   the whole stream is written first; events/s to drain it (the hand-written loop
               is stopped after --loop-seconds: it would take many minutes for 100k events)
  fixed rate   events offered at --rate events/s for --rate-seconds; event-to-sink latency
               p50/p99 (the event carries its send time; the sink row's commit time for sous,
               the time after predict for the loop)
Targets (2 cores): sous >= 5x the loop's saturation throughput; p99 <= 100 ms at 1,000/s.

Each Sous consumer also reports where its batches' time went (engine/stream/clock.py): per
stage (read, check, features, score, fence, stage, checkpoint, publish, ack, log) the mean,
p50 and p99 milliseconds per batch, and the batch sizes. At a fixed rate an event's latency
is about the wait for the batch in progress plus its own batch's time, so p99 latency is
about twice the p99 batch time. A quick latency check on shared cores:

    python benchmarks/bench_stream.py --modes rate --consumers 1 --rate-seconds 10
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = "wine-stream"


def start_redis() -> tuple[str, Any]:
    url = os.environ.get("SOUS_TEST_REDIS_URL")
    if url:
        return url, None
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "start_redis.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    return env["SOUS_TEST_REDIS_URL"], env["SOUS_TEST_REDIS_DIR"]


def wine() -> tuple[Any, Any]:
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True, as_frame=True)
    x.columns = [c.replace("/", "_") for c in x.columns]
    return x, y


def package_model() -> str:
    """Fit the forest and save it as a registry version with a Bento, promoted to staging."""
    from sklearn.ensemble import RandomForestClassifier

    from engine.serving import FeatureField, package
    from engine.specs import BentoSpec, DeploySpec
    from engine.store import registry

    x, y = wine()
    est = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(x, y)
    packaged = package(
        name=MODEL, estimator=est, task="classification",
        features=[FeatureField(c, "float", nullable=False) for c in x.columns],
        classes=[int(c) for c in est.classes_], metrics={"f1": 1.0}, labels={"recipe": MODEL},
        deploy=DeploySpec(bento=BentoSpec(name=MODEL), smoke=False),
    )  # fmt: skip
    registry.promote(MODEL, packaged.version, "staging")
    return str(packaged.version)


def rows(n: int) -> list[dict[str, Any]]:
    x, _ = wine()
    records = x.to_dict("records")
    return [{"event_id": f"e{i}", **records[i % len(records)]} for i in range(n)]


def produce(url: str, stream: str, events: list[dict[str, Any]], rate: float | None) -> None:
    """XADD the events (``sent`` stamped at sending time), at ``rate`` per second or at once."""
    import redis

    client = redis.Redis.from_url(url)
    start = time.perf_counter()
    chunk = 500 if rate is None else max(1, int(rate / 100))
    for i in range(0, len(events), chunk):
        if rate is not None:
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        with client.pipeline(transaction=False) as pipe:
            now = time.time()
            for e in events[i : i + chunk]:
                pipe.xadd(stream, {"data": json.dumps({**e, "sent": now})})
            pipe.execute()
    client.close()


# ------------------------------------------------------------------ Sous


def sous_context(url: str, stream: str, group: str, sink: Path) -> Any:
    from engine.home import sous_home
    from engine.specs import SchemaSpec, StreamEndpointSpec, StreamModelSpec, StreamSpec, frozen_map
    from engine.stream.context import StreamContext

    spec = StreamSpec(
        source=StreamEndpointSpec("redis", frozen_map({"url": url, "stream": stream, "group": group})),
        sink=StreamEndpointSpec(
            "parquet", frozen_map({"path": str(sink), "partition": "none", "include": ["sent"]})
        ),
        model=StreamModelSpec(name=MODEL, refresh_s=5.0),
        max_batch=500, max_wait_ms=20, dedupe_ids=20_000,
    )  # fmt: skip
    return StreamContext(MODEL, spec, SchemaSpec(), "target", None, str(sous_home()))


def sous_consumer(ctx: Any, name: str, idle_s: float, ready: Any, report: Any) -> None:
    from dataclasses import asdict

    from engine.stream.consumer import Consumer

    c = Consumer(ctx, name)
    ready.put(name)
    summary = c.run(until_idle_s=idle_s)
    c.close()
    report.put((name, asdict(summary.timing) if summary.timing else None))


def run_sous(url: str, stream: str, n_consumers: int, events: list[dict[str, Any]],
             rate: float | None, sink: Path) -> dict[str, Any]:  # fmt: skip
    import pandas as pd

    ctx = sous_context(url, stream, f"sous{n_consumers}-{rate}", sink)
    ready: Any = mp.get_context("fork").Queue()
    report: Any = mp.get_context("fork").Queue()
    procs = [
        mp.get_context("fork").Process(
            target=sous_consumer, args=(ctx, f"c{i}", 3.0, ready, report)
        )
        for i in range(n_consumers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)  # model loaded: time only the scoring
    t0 = time.time()
    produce(url, stream, events, rate)
    timings = dict(report.get(timeout=600) for _ in procs)
    for p in procs:
        p.join()
    parts = []
    for f in sink.glob("*.parquet"):  # a file's mtime: when its batch reached the sink
        parts.append(pd.read_parquet(f).assign(done=f.stat().st_mtime))
    if not parts:
        raise SystemExit(f"sous consumers wrote nothing to {sink}: see their errors above")
    out = pd.concat(parts, ignore_index=True)
    assert len(out) == len(events) and out["event_id"].is_unique, "lost or doubled events"
    return {**_figures(out, t0), "stages": timings}


def _figures(out: Any, t0: float) -> dict[str, Any]:
    import numpy as np

    done = out["done"].to_numpy()
    lat = (done - out["sent"].to_numpy()) * 1000.0
    return {
        "events": len(out),
        "events_per_s": round(float(len(out) / (done.max() - t0)), 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
    }


# ------------------------------------------------------------------ the hand-written loop


def loop_consumer(url: str, stream: str, group: str, name: str, stop_at: float, out: Any) -> None:
    import cloudpickle
    import pandas as pd
    import redis

    from engine.home import sous_home
    from engine.store import registry

    version = registry.get_alias(MODEL, "staging")
    tag = registry.get_version(MODEL, str(version)).model_tag
    model_dir = sous_home() / "bentoml" / "models" / tag.replace(":", "/")
    est = cloudpickle.loads((model_dir / "estimator.pkl").read_bytes())
    columns = list(est.feature_names_in_)
    client = redis.Redis.from_url(url)
    results = []
    out.put(("ready", name))
    idle_since = time.time()
    while time.time() < stop_at:
        reply = client.xreadgroup(group, name, {stream: ">"}, count=1, block=100)
        if not reply:
            if time.time() - idle_since > 2.0 and results:
                break
            continue
        idle_since = time.time()
        entry_id, fields = reply[0][1][0]
        event = json.loads(fields[b"data"])
        x = pd.DataFrame([[event[c] for c in columns]], columns=columns)
        proba = est.predict_proba(x)[0]
        results.append((event["event_id"], int(proba.argmax()), event["sent"], time.time()))
        client.xack(stream, group, entry_id)
    out.put(("done", results))


def run_loop(url: str, stream: str, n_consumers: int, events: list[dict[str, Any]],
             rate: float | None, seconds: float) -> dict[str, Any]:  # fmt: skip

    import redis

    group = f"loop{n_consumers}-{rate}"
    redis.Redis.from_url(url).xgroup_create(stream, group, id="$", mkstream=True)
    ctx = mp.get_context("fork")
    q: Any = ctx.Queue()
    stop_at = time.time() + 3600
    procs = [
        ctx.Process(target=loop_consumer, args=(url, stream, group, f"l{i}", stop_at, q))
        for i in range(n_consumers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        assert q.get(timeout=120)[0] == "ready"
    t0 = time.time()
    # the loop gets `seconds` to score what it can; the rest of the stream stays unread
    producer = ctx.Process(target=produce, args=(url, stream, events, rate))
    producer.start()
    time.sleep(seconds)
    for p in procs:
        p.kill()  # stop mid-stream: only its results so far count
    producer.join()
    del q
    # results travel back only when a consumer exits on its own; measure from the stream
    info = redis.Redis.from_url(url).xinfo_groups(stream)
    mine = next(g for g in info if g["name"].decode() == group)
    acked = int(mine["entries-read"] or 0) - int(mine["pending"])
    return {"events": acked, "events_per_s": round(acked / (time.time() - t0), 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--rate-seconds", type=float, default=20.0)
    p.add_argument("--loop-seconds", type=float, default=20.0)
    p.add_argument("--consumers", default="1,2")
    p.add_argument(
        "--modes",
        default="saturation,rate,loop",
        help="which of saturation,rate,loop to run (e.g. --modes rate for a latency check)",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    modes = set(args.modes.split(","))
    home = Path(tempfile.mkdtemp(prefix="sous-bench-stream-"))
    os.environ.update(SOUS_HOME=str(home), BENTOML_DO_NOT_TRACK="True")
    url, redis_dir = start_redis()
    results: list[dict[str, Any]] = []
    try:
        version = package_model()
        print(f"model {MODEL}:{version}; redis {url}", file=sys.stderr)
        for n in [int(c) for c in args.consumers.split(",")]:
            sat = rows(args.events)
            fixed = rows(int(args.rate * args.rate_seconds))
            before = len(results)
            if "saturation" in modes:
                r = run_sous(url, f"sat-sous-{n}", n, sat, None, home / f"sat-{n}")
                results.append({"who": "sous", "consumers": n, "mode": "saturation", **r})
            if "rate" in modes:
                r = run_sous(url, f"rate-sous-{n}", n, fixed, args.rate, home / f"rate-{n}")
                results.append({"who": "sous", "consumers": n, "mode": f"{args.rate:g}/s", **r})
            if "loop" in modes:
                r = run_loop(url, f"sat-loop-{n}", n, sat, None, args.loop_seconds)
                results.append({"who": "loop", "consumers": n, "mode": "saturation", **r})
            print(json.dumps(results[before:]), file=sys.stderr)
    finally:
        if redis_dir:
            subprocess.run(["bash", str(ROOT / "scripts" / "start_redis.sh"), "stop", redis_dir])
        shutil.rmtree(home, ignore_errors=True)
    _print(results, args.json)
    return 0


def _print(results: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'who':<5} {'consumers':>9} {'mode':>11} {'events':>8} {'events/s':>10} "
          f"{'p50 ms':>7} {'p99 ms':>7}")  # fmt: skip
    for r in results:
        print(
            f"{r['who']:<5} {r['consumers']:>9} {r['mode']:>11} {r['events']:>8} "
            f"{r['events_per_s']:>10} {r.get('p50_ms', '-'):>7} {r.get('p99_ms', '-'):>7}"
        )
    for r in results:
        for name, t in sorted((r.get("stages") or {}).items()):
            if not t:
                continue
            print(
                f"\n{r['mode']} {name}: {t['batches']} batches of {t['mean_events']} events, "
                f"batch p50 {t['total_p50_ms']} ms, p99 {t['total_p99_ms']} ms; "
                f"CPU per batch p50 {t['cpu_p50_ms']} ms, p99 {t['cpu_p99_ms']} ms"
            )
            for st in t["stages"]:
                print(
                    f"  {st['stage']:<11} mean {st['mean_ms']:>7} p50 {st['p50_ms']:>7} "
                    f"p99 {st['p99_ms']:>7} ms"
                )
    for n in sorted({r["consumers"] for r in results}):
        sous = [
            r for r in results if (r["who"], r["consumers"], r["mode"]) == ("sous", n, "saturation")
        ]
        loop = [
            r for r in results if (r["who"], r["consumers"], r["mode"]) == ("loop", n, "saturation")
        ]
        if sous and loop:
            ratio = sous[0]["events_per_s"] / loop[0]["events_per_s"]
            print(f"{n} consumer(s): sous / loop throughput = {ratio:.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
