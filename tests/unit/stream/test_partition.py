"""Routing a windowed stream's keys to consumers, and the stage clock."""

from __future__ import annotations

import os
import zlib
from collections import Counter
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.specs import (
    SchemaSpec,
    StreamEndpointSpec,
    StreamModelSpec,
    StreamSpec,
    WindowFeatureSpec,
    WindowsSpec,
    frozen_map,
)
from engine.stream.checkpoint import Checkpoint, CheckpointStore, Staged
from engine.stream.clock import StageClock
from engine.stream.context import StreamContext
from engine.stream.events import make_event
from engine.stream.partition import Partition, partition_of, partitions_for

WINDOWS = WindowsSpec(key="card", time="ts", aggregations=(WindowFeatureSpec("n", "count", 60.0),))


def _ctx(tmp_path: Path, kind: str = "directory", windows: WindowsSpec | None = WINDOWS):
    opts = {"path": str(tmp_path / "in")} if kind == "directory" else {"x": 1}
    spec = StreamSpec(
        source=StreamEndpointSpec(kind, frozen_map(opts)),
        sink=StreamEndpointSpec("parquet", frozen_map({})),
        model=StreamModelSpec(name="m"),
    )
    return StreamContext("s", spec, SchemaSpec(), "y", windows, str(tmp_path / "home"))


def test_keys_hash_stably_and_spread() -> None:
    assert partition_of("c007", 4) == zlib.crc32(b"c007") % 4  # not Python's salted hash()
    assert partition_of(7, 3) == partition_of(7.0, 3) == partition_of("7", 3)  # one entity
    assert partition_of(None, 5) == 0 and partition_of("x", 1) == 0
    spread = Counter(partition_of(f"c{i:03d}", 2) for i in range(200))
    assert set(spread) == {0, 1} and min(spread.values()) > 60


def test_a_partition_owns_its_keys_and_reads_its_own_group() -> None:
    parts = [Partition(i, 3, "card") for i in range(3)]
    event = make_event("1-0", {"card": "c1", "ts": 1})
    assert sum(p.owns(event) for p in parts) == 1
    redis = StreamEndpointSpec("redis", frozen_map({"url": "redis://x", "group": "g"}))
    assert parts[2].source_spec(redis).options["group"] == "g-p2of3"
    directory = StreamEndpointSpec("directory", frozen_map({"path": "/in"}))
    assert parts[1].source_spec(directory) is directory  # every consumer reads every file


def test_the_partition_count_is_kept(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert [p.index for p in partitions_for(ctx, 2) or []] == [0, 1]
    assert partitions_for(ctx, 2) is not None  # the same count again
    with pytest.raises(UserError) as err:
        partitions_for(ctx, 3)
    assert "--workers 2" in (err.value.hint or "")


def test_checkpoints_from_before_count_as_one_partition(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    CheckpointStore(ctx.checkpoint_dir).save(Checkpoint(consumer="c0"))
    with pytest.raises(UserError):
        partitions_for(ctx, 2)


def test_no_windows_no_partitions_and_unknown_sources_refused(tmp_path: Path) -> None:
    assert partitions_for(_ctx(tmp_path, windows=None), 4) is None
    with pytest.raises(UserError) as err:
        partitions_for(_ctx(tmp_path, kind="kafka"), 2)
    assert err.value.key_path == "stream.source.kind"


def test_checkpoint_makes_the_staged_files_durable_first(tmp_path: Path) -> None:
    staged = tmp_path / "_staging" / "c0" / "c0-1.parquet"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"rows")
    synced: list[str] = []
    store = CheckpointStore(tmp_path / "cp")
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    cp = Checkpoint(consumer="c0", seq=1, staged=[Staged("sink", str(staged), "x")])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "fsync", spy)
        store.save(cp)
    assert str(staged) in synced and str(staged.parent) in synced
    assert store.load("c0").staged == cp.staged


def test_stage_clock_figures() -> None:
    clock = StageClock(keep=3)
    for _ in range(5):
        clock.start()
        clock.mark("score")
        clock.mark("checkpoint")
        clock.end(10)
    fig = clock.figures()
    assert fig.batches == 3 and fig.mean_events == 10
    assert {s.stage for s in fig.stages} <= {"score", "checkpoint"}
    assert fig.total_p99_ms >= fig.total_p50_ms >= 0
    assert fig.cpu_p99_ms >= fig.cpu_p50_ms >= 0
