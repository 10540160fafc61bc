"""Exactly once, end to end, against a real redis-server: `sous stream` killed with SIGKILL
mid-run (from outside, and at each phase of the commit protocol), then restarted, leaves every
event in the sink exactly once with the prediction an uninterrupted run gave it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stream_support import env, live_events, produce, read_sink, redis_server, stream_cmd, train

N_EVENTS = 800
BATCH = ["stream.max_batch=25", "stream.max_wait_ms=20"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("stream-home")
    with redis_server() as url:
        train(home)
        events = live_events(N_EVENTS)
        produce(url, "tx", events)
        ref = home / "ref"
        done = subprocess.run(
            stream_cmd(url, "tx", "ref", ref, *BATCH, "--until-idle", "1"),
            env=env(home), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield {"home": home, "url": url, "events": events, "ref": read_sink(ref)}


def _assert_exactly_once(setup: dict[str, Any], sink: Path) -> None:
    out = read_sink(sink)
    ids = [e["event_id"] for e in setup["events"]]
    assert sorted(out["event_id"]) == sorted(ids)  # every event, none twice
    ref = setup["ref"].set_index("event_id")
    got = out.set_index("event_id").loc[ref.index]
    assert (got["prediction"] == ref["prediction"]).all()
    assert (got["proba_1"] == ref["proba_1"]).all()
    assert (got["model_version"] == ref["model_version"]).all()


def test_uninterrupted_run_scores_every_event_once(setup: dict[str, Any]) -> None:
    ref = setup["ref"]
    assert len(ref) == N_EVENTS and ref["event_id"].is_unique
    assert set(ref["prediction"]) <= {0, 1} and ref["proba_1"].between(0, 1).all()
    assert ref["model_version"].nunique() == 1


def test_kill_9_mid_run_then_restart(setup: dict[str, Any], tmp_path: Path) -> None:
    home, url = setup["home"], setup["url"]
    sink = tmp_path / "out"
    cmd = stream_cmd(url, "tx", "killed", sink, *BATCH, "--until-idle", "1")
    proc = subprocess.Popen(cmd, env=env(home), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            cp = _group_checkpoint(home, "killed")
            if cp and cp["seq"] >= 8:
                break
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = read_sink(sink)
    assert 0 < len(partial) < N_EVENTS  # killed in the middle
    done = subprocess.run(cmd, env=env(home), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    _assert_exactly_once(setup, sink)


@pytest.mark.parametrize(
    "phase", ["before_stage", "after_stage", "after_checkpoint", "after_publish"]
)
def test_sigkill_at_each_commit_phase_then_restart(
    setup: dict[str, Any], tmp_path: Path, phase: str
) -> None:
    home, url = setup["home"], setup["url"]
    sink = tmp_path / "out"
    cmd = stream_cmd(url, "tx", f"fp-{phase}", sink, *BATCH, "--until-idle", "1")
    crashed = subprocess.run(
        cmd, env=env(home, SOUS_STREAM_FAILPOINT=f"{phase}:5"), capture_output=True, timeout=600
    )
    assert crashed.returncode == -signal.SIGKILL
    cp = _group_checkpoint(home, f"fp-{phase}")
    assert cp is not None and cp["seq"] == (
        5 if phase in ("after_checkpoint", "after_publish") else 4
    )
    done = subprocess.run(cmd, env=env(home), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    _assert_exactly_once(setup, sink)
    if phase in ("after_checkpoint", "after_publish"):
        assert cp["counters"]["events_in"] >= 125  # the replayed batch was dropped, not rescored


def _group_checkpoint(home: Path, group: str) -> dict[str, Any] | None:
    for path in (home / "streams" / "card_stream" / "state").rglob("c0.json"):
        meta = path.parent.parent / "source.json"
        if meta.exists() and json.loads(meta.read_text()).get("group") == group:
            return json.loads(path.read_text())
    return None
