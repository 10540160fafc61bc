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
from engine.stream.runner import run_stream

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


def test_windowed_features_refuse_several_consumers(world: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        run_stream(_ctx(world, tmp_path, "w0"), workers=2, until_idle_s=0.1)
    assert err.value.key_path == "features.windows"


def test_a_killed_consumer_leaves_its_entries_to_the_other(
    world: dict[str, Any], tmp_path: Path
) -> None:
    events = live_events(N_EVENTS)
    produce(world["url"], "wk", events)
    # without window features (state is per consumer); the model imputes their columns
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
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        for cp in store.all():
            if cp.seq >= 3 and cp.pid not in (0, os.getpid()):
                os.kill(cp.pid, signal.SIGKILL)
                killed = cp
                break
        time.sleep(0.01)
    thread.join(timeout=600)
    assert killed is not None, "no consumer was killed"
    assert "error" not in result, result.get("error")
    out = read_sink(tmp_path / "out")
    assert sorted(out["event_id"]) == sorted(e["event_id"] for e in events)  # exactly once
    after = {cp.consumer: cp for cp in store.all()}
    assert sum(cp.counters.events_in for cp in after.values()) == N_EVENTS
    assert set(after) == {"c0", "c1"}
