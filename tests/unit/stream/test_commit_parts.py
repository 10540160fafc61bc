"""The parts of the stream's commit protocol, without a broker: events, checkpoints,
two-phase parquet sink and recovery, schema checks per event, the directory source."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from engine.specs import ColumnSpec, SchemaSpec, StreamEndpointSpec, frozen_map
from engine.stream.checkpoint import Checkpoint, CheckpointStore, Counters
from engine.stream.consumer import recover
from engine.stream.dir_source import DirectorySource
from engine.stream.events import from_fields
from engine.stream.quality import BatchChecker
from engine.stream.sinks import ParquetSink


@pytest.mark.parametrize(
    ("fields", "event_id", "payload"),
    [
        pytest.param(
            {b"data": b'{"event_id": "a1", "x": 1.5}'},
            "a1",
            {"event_id": "a1", "x": 1.5},
            id="json",
        ),
        pytest.param({b"x": b"2", b"s": b"abc"}, "9-0", {"x": 2, "s": "abc"}, id="flat"),
        pytest.param({"data": "not json"}, "9-0", {"data": "not json"}, id="text"),
    ],
)
def test_events_from_redis_fields(fields: dict, event_id: str, payload: dict) -> None:
    event = from_fields("9-0", fields)
    assert event.event_id == event_id and dict(event.fields) == payload


def test_checkpoint_round_trip_is_atomic_json(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    cp = Checkpoint(consumer="c0", seq=3, recent_ids=["a", "b"], counters=Counters(events_in=2))
    cp.window_state = {"max_ts": 5, "keys": {"k": {"ts": [1], "values": {"x": [None]}}}}
    store.save(cp)
    back = store.load("c0")
    assert (back.seq, back.recent_ids, back.counters.events_in) == (3, ["a", "b"], 2)
    assert back.window_state == cp.window_state and back.pid > 0
    assert [p.name for p in tmp_path.iterdir()] == ["c0.json"]  # no temp file left
    assert store.load("c9").seq == 0


def _frame(n: int, hour: str = "2026-04-01T10:00:00Z") -> pd.DataFrame:
    return pd.DataFrame(
        {"event_id": [f"e{i}" for i in range(n)], "event_time": pd.Timestamp(hour), "prediction": 1}
    )


def test_parquet_sink_stages_then_publishes_into_hour_partitions(tmp_path: Path) -> None:
    sink = ParquetSink("sink", tmp_path)
    staged = sink.stage(1, "c0", _frame(3), "event_time")
    assert len(staged) == 1 and pd.read_parquet(tmp_path).empty  # readers skip _staging
    sink.publish(staged[0])
    sink.publish(staged[0])  # again (a restart): a no-op
    assert Path(staged[0].final).parent == tmp_path / "date=2026-04-01" / "hour=10"
    assert len(pd.read_parquet(tmp_path)) == 3


def test_recover_publishes_what_the_checkpoint_names_and_drops_the_rest(tmp_path: Path) -> None:
    sink = ParquetSink("sink", tmp_path)
    committed = sink.stage(4, "c0", _frame(2), "event_time")
    crashed = sink.stage(5, "c0", _frame(7), "event_time")  # staged, never checkpointed
    recover(Checkpoint(consumer="c0", seq=4, staged=committed), {"sink": sink})
    assert len(pd.read_parquet(tmp_path)) == 2
    assert not Path(crashed[0].staged).exists() and not Path(crashed[0].final).exists()


def test_schema_checks_each_event_and_never_the_whole_batch() -> None:
    schema = SchemaSpec(
        columns=(
            ColumnSpec("amount", dtype="float64", checks=frozen_map({"gt": 0})),
            ColumnSpec("shop", checks=frozen_map({"isin": ["a", "b"]})),
            ColumnSpec("label", dtype="int64", nullable=False),  # the target: not on the stream
            ColumnSpec("id", dtype="str", unique=True),
        )
    )
    checker = BatchChecker(schema, target="label")
    events = [
        from_fields(f"{i}-0", {"data": json.dumps(p)})
        for i, p in enumerate(
            [
                {"id": "1", "amount": 3.0, "shop": "a"},
                {"id": "2", "amount": "x", "shop": "a"},
                {"id": "3", "amount": -1.0, "shop": "z"},
                {"id": "3", "amount": 1, "shop": "b"},
            ]
        )
    ]
    good, rejected = checker.check(events)
    assert [e.fields["id"] for e in good] == ["1", "3"]  # ints pass as floats; no uniqueness
    reasons = {r.event.broker_id: r.reason for r in rejected}
    assert reasons["1-0"] == "amount:dtype(float64)"
    assert "amount:" in reasons["2-0"] and "shop:" in reasons["2-0"]


def test_directory_source_resumes_mid_file_and_skips_done_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(5)))
    pd.DataFrame({"n": [10, 11]}).to_csv(tmp_path / "b.csv", index=False)
    (tmp_path / ".c.jsonl").write_text('{"n": 99}\n')  # still being written: skipped
    spec = StreamEndpointSpec("directory", frozen_map({"path": str(tmp_path)}))
    source = DirectorySource(spec, "c0")
    first = source.read(3, 0)
    assert [e.fields["n"] for e in first] == [0, 1, 2] and first[0].event_id == "a.jsonl:0"
    progress = source.progress()
    again = DirectorySource(spec, "c0")
    again.restore(progress)
    rest = []
    while batch := again.read(10, 0):
        rest += [e.fields["n"] for e in batch]
    assert rest == [3, 4, 10, 11]
    assert again.progress()["done"] == ["a.jsonl", "b.csv"]
