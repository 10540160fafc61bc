"""`--workers N`: consumers of one group as long-running tasks on a real Dask LocalCluster.
A consumer's worker killed with SIGKILL mid-stream leaves its pending entries to the other
(claimed after the idle timeout); nothing is lost or scored twice."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stream_support import RECIPE, live_events, produce, read_sink, redis_server, train

from engine import api
from engine.errors import UserError
from engine.stream.checkpoint import CheckpointStore
from engine.stream.context import StreamContext, context_of
from engine.stream.runner import run_stream, status

N_EVENTS = 600


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("stream-home")
    with redis_server() as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOUS_HOME", str(home))
        mp.setenv("BENTOML_DO_NOT_TRACK", "True")
        train(home)
        yield {"home": home, "url": url}


def _ctx(world: dict[str, Any], tmp_path: Path, stream: str, *more: str) -> StreamContext:
    return context_of(
        api.validate(
            str(RECIPE),
            [
                f"stream.source.url={world['url']}",
                f"stream.source.stream={stream}",
                f"+stream.sink.path={tmp_path / 'out'}",
                "stream.max_batch=10",
                "stream.max_wait_ms=20",
                "+stream.claim_idle_ms=1500",
                *more,
            ],
        )
    )


FEATURES = ["tx_5m", "amount_sum_5m", "amount_mean_1h", "amount_max_1h", "merchants_10m",
            "tx_today"]  # fmt: skip


def _kill_one_consumer(store: CheckpointStore, thread: threading.Thread) -> Any:
    """SIGKILL the process of the first consumer past its third batch (a Dask worker)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and thread.is_alive():
        for cp in store.all():
            if cp.seq >= 3 and cp.pid not in (0, os.getpid()):
                os.kill(cp.pid, signal.SIGKILL)
                return cp
        time.sleep(0.01)
    return None


def test_windowed_features_with_two_workers_equal_one_worker_and_batch(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Two partitions (consumers by key hash), one of them killed mid-stream: every event
    once, with the window features of the batch path and of a single consumer."""
    import numpy as np
    import pandas as pd

    from engine.features.batch import compute_windows

    events = live_events(N_EVENTS, seed=5)
    produce(world["url"], "ww", events)
    include = "+stream.sink.include=[" + ",".join(FEATURES) + "]"
    one = _ctx(world, tmp_path / "one", "ww", "stream.source.group=one", include)
    run_stream(one, workers=1, until_idle_s=2)
    two = _ctx(world, tmp_path / "two", "ww", "stream.source.group=two", include)
    store = CheckpointStore(two.checkpoint_dir)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["summary"] = run_stream(two, workers=2, until_idle_s=4)
        except BaseException as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    killed = _kill_one_consumer(store, thread)
    thread.join(timeout=600)
    assert killed is not None, "no consumer was killed"
    assert "error" not in result, result.get("error")

    ids = sorted(e["event_id"] for e in events)
    by_one = read_sink(tmp_path / "one" / "out").set_index("event_id").sort_index()
    by_two = read_sink(tmp_path / "two" / "out").set_index("event_id").sort_index()
    assert list(by_one.index) == ids and list(by_two.index) == ids  # exactly once, both
    assert set(by_two["key"]) == {str(e["card_id"]) for e in events}
    frame = pd.DataFrame(events)
    batch = compute_windows(frame, frame, one.windows).set_index("event_id").sort_index()
    for name in FEATURES:  # (NaN: an empty window's mean and max, equal here)
        np.testing.assert_array_equal(by_two[name].astype(float), by_one[name].astype(float))
        np.testing.assert_array_equal(by_two[name].astype(float), batch[name].astype(float))
    assert (by_two["prediction"] == by_one["prediction"]).all()
    assert (by_two["proba_1"] == by_one["proba_1"]).all()
    after = {cp.consumer: cp for cp in store.all()}
    assert set(after) == {"c0", "c1"}
    assert sum(cp.counters.events_in for cp in after.values()) == N_EVENTS
    assert all(cp.counters.events_in for cp in after.values())  # both partitions had keys
    # each partition's state holds only its own keys
    from engine.stream.partition import partition_of

    for i, name in enumerate(("c0", "c1")):
        keys = (after[name].window_state or {}).get("keys", {})
        assert keys and all(partition_of(k, 2) == i for k in keys)
    st = status(two)  # the partitions' groups, one consumer each: all read, nothing pending
    assert st.lag == 0 and st.pending == 0
    assert {c.consumer for c in st.consumers} == {"c0", "c1"}
    assert sum(c.events_in for c in st.consumers) == N_EVENTS


def test_max_events_counts_stream_entries_in_every_partition(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """`--max-events N` with partitions: each reads N entries of the stream (its keys and the
    others'), so the run ends even when the keys are not split evenly."""
    events = live_events(120, seed=3)
    produce(world["url"], "wm", events)
    ctx = _ctx(world, tmp_path, "wm", "stream.source.group=wm")
    done: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: done.update(s=run_stream(ctx, workers=2, max_events=120)), daemon=True
    )
    thread.start()
    thread.join(timeout=600)
    assert not thread.is_alive(), "a partition waited for events that were the other's"
    assert sum(s.events_in for s in done["s"]) == 120
    out = read_sink(tmp_path / "out")
    assert sorted(out["event_id"]) == sorted(e["event_id"] for e in events)


def test_a_windowed_stream_keeps_its_partition_count(world: dict[str, Any], tmp_path: Path) -> None:
    ctx = _ctx(world, tmp_path, "wp", "stream.source.group=wp")
    run_stream(ctx, workers=2, until_idle_s=0.5)
    with pytest.raises(UserError) as err:
        run_stream(ctx, workers=3, until_idle_s=0.1)
    assert err.value.key_path == "features.windows"


def test_a_killed_consumer_leaves_its_entries_to_the_other(
    world: dict[str, Any], tmp_path: Path
) -> None:
    events = live_events(N_EVENTS)
    produce(world["url"], "wk", events)
    # without window features (a consumer group, claims); the model imputes their columns
    ctx = _ctx(world, tmp_path, "wk", "~features")
    store = CheckpointStore(ctx.checkpoint_dir)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["summary"] = run_stream(ctx, workers=2, until_idle_s=4)
        except BaseException as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    killed = _kill_one_consumer(store, thread)
    thread.join(timeout=600)
    assert killed is not None, "no consumer was killed"
    assert "error" not in result, result.get("error")
    out = read_sink(tmp_path / "out")
    assert sorted(out["event_id"]) == sorted(e["event_id"] for e in events)  # exactly once
    after = {cp.consumer: cp for cp in store.all()}
    assert sum(cp.counters.events_in for cp in after.values()) == N_EVENTS
    assert set(after) == {"c0", "c1"}


def test_a_stalled_consumer_commits_nothing_another_claimed(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Fencing: c0 reads a batch and stalls past the claim timeout (slow, not dead); c1
    claims and commits the entries; when c0 resumes, its commit keeps none of them."""
    from engine.stream.consumer import Consumer

    events = live_events(40, seed=9)
    produce(world["url"], "st", events)
    ctx = _ctx(world, tmp_path, "st", "~features", "stream.claim_idle_ms=300")
    slow, fast = Consumer(ctx, "c0", claim=True), Consumer(ctx, "c1", claim=True)
    try:
        batch = slow.source.read(40, 100)
        assert len(batch) == 40
        time.sleep(0.5)  # the stall
        assert fast.run(until_idle_s=1.0).events_in == 40  # claimed, scored, committed
        assert slow.process(batch) == 0  # fenced off: nothing staged, checkpointed or acked
    finally:
        slow.close()
        fast.close()
    out = read_sink(tmp_path / "out")
    assert sorted(out["event_id"]) == sorted(e["event_id"] for e in events)  # once each
    assert slow.summary().fenced == 40 and slow.summary().events_in == 0
    assert CheckpointStore(ctx.checkpoint_dir).load("c0").seq == 0
