"""The cache returns only what Sous wrote: every attack on a cloned or shared store is a miss,
quarantined and reported, never unpickled, never a traceback (issue 11)."""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat
from pathlib import Path

import pandas as pd
import pytest
from entry_parts import EntryPart, in_layout

from engine.store import signing
from engine.store.cache import MISS, PACKED_MAGIC, ArtifactCache, CorruptEntry, EntryMeta


class Planted:
    """A pickle that creates ``marker`` when it is loaded: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


class WithTable:
    def __init__(self, n: int):
        self.frame = pd.DataFrame({"x": range(n)})

    def artifacts(self) -> dict[str, object]:
        return {"table": self.frame}


def meta(key: str) -> EntryMeta:
    return EntryMeta(key, "step", 1.0, 0.5, 10.0)


@pytest.fixture
def cache(tmp_path: Path) -> ArtifactCache:
    return ArtifactCache(tmp_path / "cache")


def quarantined(cache: ArtifactCache) -> list[str]:
    q = cache.quarantine_dir()
    return sorted(p.name.split(".")[0] for p in q.iterdir()) if q.is_dir() else []


def test_saved_entry_records_digests_and_is_signed(cache: ArtifactCache) -> None:
    cache.save("k-1", WithTable(3), meta("k-1"))
    m = cache.meta("k-1")
    assert set(m.digests) == {"value.pkl", "table.parquet"}
    assert m.digests["value.pkl"] == signing.file_digest(cache.path("k-1") / "value.pkl")
    raw = json.loads((cache.path("k-1") / "meta.json").read_text())
    assert isinstance(raw["hmac"], str) and len(raw["hmac"]) == 64
    assert cache.verify("k-1") is None


def test_planted_pickle_at_a_predictable_key_is_never_unpickled(
    cache: ArtifactCache, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "pwned"
    entry = cache.path("load-abc123")
    entry.mkdir(parents=True)
    (entry / "value.pkl").write_bytes(pickle.dumps(Planted(marker)))
    forged = {"key": "load-abc123", "step": "load", "wall_s": 0, "cpu_s": 0, "peak_mem_mb": 0}
    (entry / "meta.json").write_text(json.dumps(forged))  # unsigned, as in a cloned .sous
    with caplog.at_level(logging.WARNING, logger="sous.store"):
        assert not cache.has("load-abc123")
    assert cache.get("load-abc123") is MISS
    assert not marker.exists()
    assert quarantined(cache) == ["load-abc123"]
    assert [r.getMessage().count("\n") for r in caplog.records] == [0]  # one line
    assert "load-abc123" in caplog.text and "not signed" in caplog.text
    cache.save("load-abc123", 7, meta("load-abc123"))  # recomputed in its place
    assert cache.load("load-abc123") == 7


def test_meta_signed_under_another_key_is_refused(
    cache: ArtifactCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOUS_SIGNING_KEY", "someone-else-key-" + "1" * 32)
    cache.save("k-2", 1, meta("k-2"))
    monkeypatch.setenv("SOUS_SIGNING_KEY", "test-signing-key-" + "0" * 32)
    assert not ArtifactCache(cache.root).has("k-2")


def test_a_valid_entry_copied_to_another_key_is_refused(cache: ArtifactCache) -> None:
    cache.save("fit-a", "model a", meta("fit-a"))
    os.rename(cache.path("fit-a"), cache.path("fit-b"))
    assert not cache.has("fit-b")
    assert quarantined(cache) == ["fit-b"]


def test_planted_packed_entry_is_never_unpickled(cache: ArtifactCache, tmp_path: Path) -> None:
    """A one-file entry with a well-formed footer and an unsigned meta, as a clone could hold."""
    marker = tmp_path / "pwned"
    forged = json.dumps({"key": "split-abc", "step": "split", "digests": {}}).encode()
    cache.root.mkdir(parents=True)
    value = pickle.dumps(Planted(marker))
    cache.path("split-abc").write_bytes(
        value + forged + len(forged).to_bytes(8, "big") + PACKED_MAGIC
    )
    assert cache.get("split-abc") is MISS
    assert not marker.exists() and quarantined(cache) == ["split-abc"]


@pytest.mark.parametrize("cut", [0, 5, 15, 16, 17])
def test_a_packed_entry_without_its_whole_footer_is_a_miss(cache: ArtifactCache, cut: int) -> None:
    """Torn at the end (a disk that lost the last writes): never read as complete."""
    cache.save("k-12", list(range(100)), meta("k-12"))
    path = cache.path("k-12")
    assert path.is_file()  # packed: no artifacts
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - cut] if cut else raw[:-8] + b"NOTSOUS!")
    fresh = ArtifactCache(cache.root)
    assert fresh.get("k-12") is MISS and quarantined(cache) == ["k-12"]
    fresh.save("k-12", list(range(100)), meta("k-12"))
    assert ArtifactCache(cache.root).load("k-12") == list(range(100))


def test_value_replaced_under_a_signed_meta_is_never_unpickled(
    cache: ArtifactCache, tmp_path: Path, layout: str
) -> None:
    marker = tmp_path / "pwned"
    in_layout(cache, layout).save("k-3", "x" * 500, meta("k-3"))
    evil = pickle.dumps(Planted(marker))
    value = EntryPart(cache, "k-3", "value.pkl")
    value.write(evil.ljust(len(value.read()), b"."))  # same size
    fresh = ArtifactCache(cache.root)
    assert fresh.has("k-3")  # the cheap check passes (same size, signed meta) ...
    with pytest.raises(CorruptEntry) as info:
        fresh.load("k-3")  # ... the digest check before unpickling does not
    assert not marker.exists()
    assert info.value.key == "k-3" and info.value.exit_code == 1
    assert "\n" not in str(info.value) and "run again" in str(info.value)
    assert not fresh.has("k-3") and quarantined(cache) == ["k-3"]


def test_truncated_pickle_is_a_miss_and_recomputed(cache: ArtifactCache, layout: str) -> None:
    in_layout(cache, layout).save("k-4", list(range(1000)), meta("k-4"))
    value = EntryPart(cache, "k-4", "value.pkl")
    value.write(value.read()[:100])
    fresh = ArtifactCache(cache.root)
    assert not fresh.has("k-4")
    assert fresh.get("k-4") is MISS
    fresh.save("k-4", list(range(1000)), meta("k-4"))
    assert fresh.load("k-4") == list(range(1000))


def test_flipped_byte_is_a_miss(cache: ArtifactCache, layout: str) -> None:
    rows = pd.DataFrame({"split": ["train"] * 5 + ["test"] * 5})
    in_layout(cache, layout).save("k-5", rows, meta("k-5"))
    value = EntryPart(cache, "k-5", "value.pkl")
    data = bytearray(value.read())
    i = bytes(data).rindex(b"test")
    data[i : i + 4] = b"tesT"  # still unpickles: would be used silently before
    value.write(bytes(data))
    fresh = ArtifactCache(cache.root)
    assert fresh.get("k-5") is MISS
    assert not fresh.has("k-5")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write(p.read()[:40]), id="truncated"),
        pytest.param(lambda p: p.write(b""), id="empty"),
        pytest.param(lambda p: p.write(b"\xff\xfe garbage"), id="garbage"),
        pytest.param(lambda p: p.write(b"[1, 2]"), id="not-an-object"),
    ],
)
def test_damaged_meta_is_a_miss_not_a_crash(cache: ArtifactCache, damage, layout: str) -> None:  # type: ignore[no-untyped-def]
    in_layout(cache, layout).save("k-6", 1, meta("k-6"))
    damage(EntryPart(cache, "k-6", "meta.json"))
    fresh = ArtifactCache(cache.root)
    assert not fresh.has("k-6")
    assert quarantined(cache) == ["k-6"]


def test_missing_or_truncated_artifact_is_a_miss(cache: ArtifactCache) -> None:
    cache.save("k-7", WithTable(50), meta("k-7"))
    cache.save("k-8", WithTable(50), meta("k-8"))
    (cache.path("k-7") / "table.parquet").unlink()
    table = cache.path("k-8") / "table.parquet"
    table.write_bytes(table.read_bytes()[:10])
    fresh = ArtifactCache(cache.root)
    assert not fresh.has("k-7") and not fresh.has("k-8")


def test_flipped_artifact_byte_is_found_by_verify(cache: ArtifactCache) -> None:
    cache.save("k-9", WithTable(50), meta("k-9"))
    table = cache.path("k-9") / "table.parquet"
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF
    table.write_bytes(bytes(data))
    assert "table.parquet" in (cache.verify("k-9") or "")
    assert quarantined(cache) == ["k-9"]


def test_a_planted_entry_in_the_way_is_replaced_on_save(
    cache: ArtifactCache, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    entry = cache.path("k-10")
    entry.mkdir(parents=True)
    (entry / "value.pkl").write_bytes(pickle.dumps(Planted(marker)))
    (entry / "meta.json").write_text("{}")
    cache.save("k-10", "mine", meta("k-10"))
    assert cache.load("k-10") == "mine" and not marker.exists()


def test_quarantine_is_owner_only(cache: ArtifactCache, layout: str) -> None:
    in_layout(cache, layout).save("k-11", 1, meta("k-11"))
    EntryPart(cache, "k-11", "meta.json").write(b"{")
    assert not cache.has("k-11")
    q = cache.quarantine_dir()
    assert stat.S_IMODE(q.stat().st_mode) == 0o700
    (moved,) = q.iterdir()
    assert stat.S_IMODE(moved.stat().st_mode) == 0o700
    assert "malformed" in (moved / "QUARANTINED").read_text()


def test_execute_node_recomputes_an_untrusted_entry(cache: ArtifactCache, tmp_path: Path) -> None:
    """The path every task takes on a worker: a planted entry at the node's key is a miss."""
    from engine.execution.runtime import execute_node
    from engine.plan import PlanBuilder

    marker = tmp_path / "pwned"
    b = PlanBuilder("t")
    key = b.add("const", "json:dumps", {"obj": [1, 2, 3]})
    node = b.nodes[key]
    entry = cache.path(key)
    entry.mkdir(parents=True)
    (entry / "value.pkl").write_bytes(pickle.dumps(Planted(marker)))
    (entry / "meta.json").write_text(json.dumps({"key": key}))
    assert execute_node(node, str(cache.root)) == "[1, 2, 3]"
    assert not marker.exists()
