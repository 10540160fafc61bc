"""The stream pipeline in process against a real redis-server and real files: dead letters,
late events, a promotion picked up while running, the Redis sink, the directory source,
status and Prometheus metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from stream_support import RECIPE, live_events, produce, read_sink, redis_server, train

from engine import api
from engine.stream.consumer import Consumer
from engine.stream.context import StreamContext, context_of


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("stream-home")
    with redis_server() as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOUS_HOME", str(home))
        mp.setenv("BENTOML_DO_NOT_TRACK", "True")
        train(home)
        yield {"home": home, "url": url}


def _ctx(world: dict[str, Any], tmp_path: Path, *overrides: str) -> StreamContext:
    spec = api.validate(
        str(RECIPE),
        [
            f"stream.source.url={world['url']}",
            f"+stream.sink.path={tmp_path / 'out'}",
            f"+stream.dead_letter.path={tmp_path / 'dead'}",
            *overrides,
        ],
    )
    return context_of(spec)


def _drain(consumer: Consumer) -> None:
    while events := consumer.source.read(50, 50):
        consumer.process(events)


def test_bad_and_late_events_go_to_the_dead_letter_sink_with_reasons(
    world: dict[str, Any], tmp_path: Path
) -> None:
    events = live_events(40)
    bad = [
        {**events[10], "event_id": "neg", "amount": -5.0},
        {**events[11], "event_id": "casino", "merchant": "casino"},
        {**events[12], "event_id": "text", "amount": "lots"},
        {**events[13], "event_id": "late", "ts": "2026-03-31T23:00:00Z"},  # 1 h before the rest
        {**events[14], "event_id": "notime", "ts": "yesterday"},
    ]
    produce(world["url"], "dq", events[:20] + bad + events[20:])
    ctx = _ctx(world, tmp_path, "stream.source.stream=dq")
    c = Consumer(ctx, "c0")
    _drain(c)
    c.close()
    dead = read_sink(tmp_path / "dead").set_index("event_id")
    assert set(dead.index) == {"neg", "casino", "text", "late", "notime"}
    assert "amount:" in dead.loc["neg", "reason"] and "merchant:" in dead.loc["casino", "reason"]
    assert dead.loc["text", "reason"] == "amount:dtype(float64)"
    assert dead.loc["late", "reason"] == "late"
    assert "unreadable_time" in dead.loc["notime", "reason"]
    assert json.loads(dead.loc["casino", "payload"])["merchant"] == "casino"
    out = read_sink(tmp_path / "out")
    assert sorted(out["event_id"]) == sorted(e["event_id"] for e in events)  # never stopped
    assert c.cp.counters.late == 1 and c.cp.counters.dead_lettered == 5


def test_a_promotion_is_picked_up_without_a_restart(world: dict[str, Any], tmp_path: Path) -> None:
    from engine.store import registry

    name = "card_stream"
    first = registry.get_alias(name, "staging")
    assert first
    # a second version (a smaller forest) from a second run, which moves staging to it
    import subprocess

    from stream_support import SOUS, env

    subprocess.run(
        [*SOUS, "run", str(RECIPE), "deploy.smoke=false", "cluster=sync",
         "models.rf.n_estimators=7"],
        env=env(world["home"]), check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    second = registry.get_alias(name, "staging")
    assert second and second != first
    registry.promote(name, first, "staging")  # a rollback of staging
    events = live_events(60)
    produce(world["url"], "promo", events)
    ctx = _ctx(world, tmp_path, "stream.source.stream=promo", "stream.model.refresh_s=0")
    c = Consumer(ctx, "c0")
    c.process(c.source.read(30, 100))
    registry.promote(name, second, "staging")
    c.process(c.source.read(30, 100))
    c.close()
    out = read_sink(tmp_path / "out")
    by_version = out.groupby("model_version")["event_id"].count().to_dict()
    assert by_version == {first: 30, second: 30}
    registry.promote(name, first, "staging")  # later tests score with the first again


def test_redis_stream_sink(world: dict[str, Any], tmp_path: Path) -> None:
    import redis

    events = live_events(30)
    produce(world["url"], "to-redis", events)
    ctx = _ctx(
        world,
        tmp_path,
        "stream.source.stream=to-redis",
        "stream.sink.kind=redis",
        f"+stream.sink.url={world['url']}",
        "+stream.sink.stream=scored",
    )
    c = Consumer(ctx, "c0")
    _drain(c)
    c.close()
    client = redis.Redis.from_url(world["url"])
    rows = [json.loads(f[b"data"]) for _, f in client.xrange("scored")]
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in events)
    assert {"prediction", "proba_1", "model_version", "scored_at"} <= set(rows[0])
    # publishing a batch again (a restart after its checkpoint) adds nothing
    c2 = Consumer(ctx, "c0")
    assert c2.cp.seq == c.cp.seq
    c2.close()
    assert client.xlen("scored") == len(events)


def test_directory_source_counts_each_file_once(world: dict[str, Any], tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    events = live_events(90)
    pd.DataFrame(events[:30]).to_json(inbox / "a.jsonl", orient="records", lines=True)
    pd.DataFrame(events[30:60]).to_csv(inbox / "b.csv", index=False)
    ctx = _ctx(world, tmp_path, "stream.source.kind=directory", f"+stream.source.path={inbox}")
    c = Consumer(ctx, "c0")
    _drain(c)
    c.close()
    c = Consumer(ctx, "c0")  # a restart reads nothing again
    _drain(c)
    assert c.batches == 0
    pd.DataFrame(events[60:]).to_parquet(inbox / "c.parquet")
    _drain(c)
    c.close()
    out = read_sink(tmp_path / "out")
    assert sorted(out["event_id"]) == sorted(e["event_id"] for e in events)


def test_status_and_metrics(world: dict[str, Any], tmp_path: Path) -> None:
    import urllib.request

    from stream_support import free_port

    from engine.stream.metrics import serve_metrics
    from engine.stream.runner import run_stream, status

    produce(world["url"], "watched", live_events(50))
    ctx = _ctx(world, tmp_path, "stream.source.stream=watched")
    port = free_port()
    summary = run_stream(ctx, until_idle_s=0.5, metrics_port=None)
    assert summary[0].events_in == 50
    st = status(ctx)
    assert st.lag == 0 and st.pending == 0
    (c0,) = st.consumers
    assert (c0.events_in, c0.events_out, c0.dead_lettered) == (50, 50, 0)
    assert c0.checkpoint_age_s is not None and c0.model_version
    server = serve_metrics(ctx, port)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'sous_stream_events_out_total{stream="card_stream",consumer="c0"} 50' in text
    assert 'sous_stream_lag{stream="card_stream"} 0' in text
    # the scored events joined the model's request log, which `sous monitor` reads
    log = pd.read_parquet(world["home"] / "serving" / "card_stream" / "requests")
    streamed = log[log["_variant"] == "stream"]
    out = read_sink(tmp_path / "out")
    assert set(out["event_id"]) <= set(streamed["_request_id"])
    assert {"amount", "merchant", "tx_5m", "_prediction", "_version"} <= set(log.columns)
    assert (streamed["_req"] == 1).all()  # each streamed event counts as a request


def test_scoring_through_a_served_endpoint(world: dict[str, Any], tmp_path: Path) -> None:
    """`stream.model.url`: the same events scored by `sous serve`'s HTTP API and in process
    get the same predictions."""
    from engine.serving.server import BentoServer

    events = live_events(40)
    produce(world["url"], "via-http", events)
    with BentoServer("card_stream") as server:
        http = _ctx(world, tmp_path / "http", "stream.source.stream=via-http",
                    f"+stream.model.url={server.url}")  # fmt: skip
        c = Consumer(http, "c0")
        _drain(c)
        c.close()
    local = _ctx(world, tmp_path / "local", "stream.source.stream=via-http",
                 "stream.source.group=local")  # fmt: skip
    c = Consumer(local, "c0")
    _drain(c)
    c.close()
    a = read_sink(tmp_path / "http" / "out").set_index("event_id").sort_index()
    b = read_sink(tmp_path / "local" / "out").set_index("event_id").sort_index()
    assert len(a) == len(events) and list(a.index) == list(b.index)
    assert (a["prediction"] == b["prediction"]).all()
    assert (a["proba_1"] - b["proba_1"]).abs().max() < 1e-9
    assert (a["model_version"] == b["model_version"]).all()
