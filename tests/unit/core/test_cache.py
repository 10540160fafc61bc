from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from engine.store.cache import MISS, ArtifactCache, EntryMeta


@dataclass(frozen=True)
class WithArtifacts:
    frame: pd.DataFrame

    def artifacts(self) -> dict[str, object]:
        return {"table": self.frame, "note.txt": "hello", "blob.bin": b"\x00\x01"}


def meta(key: str) -> EntryMeta:
    return EntryMeta(key, "step", 1.0, 0.5, 10.0)


def test_round_trip_and_meta(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    assert not cache.has("k-1")
    cache.save("k-1", {"a": [1, 2]}, meta("k-1"))
    assert cache.has("k-1")
    assert cache.load("k-1") == {"a": [1, 2]}
    assert cache.meta("k-1").wall_s == 1.0


def test_artifacts_written_beside_the_value(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    value = WithArtifacts(pd.DataFrame({"x": [1, 2, 3]}))
    cache.save("k-2", value, meta("k-2"))
    m = cache.meta("k-2")
    assert set(m.artifacts) == {"table.parquet", "note.txt", "blob.bin"}
    assert m.rows == 3
    assert pd.read_parquet(cache.artifact_path("k-2", "table.parquet"))["x"].tolist() == [1, 2, 3]
    assert cache.artifact_path("k-2", "blob.bin").read_bytes() == b"\x00\x01"


def test_partial_entry_is_not_visible_and_is_replaced(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    partial = tmp_path / "k-3"
    partial.mkdir()
    (partial / "value.pkl").write_bytes(b"truncated")
    assert not cache.has("k-3")  # no meta.json: a crash mid-write never looks complete
    cache.save("k-3", 42, meta("k-3"))
    assert cache.load("k-3") == 42


def test_failed_write_leaves_nothing(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("cannot pickle")

    with pytest.raises(TypeError):
        cache.save("k-4", Unpicklable(), meta("k-4"))
    assert not cache.has("k-4")
    assert list(tmp_path.iterdir()) == []


def test_a_second_writer_of_a_key_leaves_one_whole_entry(tmp_path) -> None:
    """Writers of one key write the same work. A directory entry keeps the first (a
    directory is not renamed over a full one); a packed entry is replaced whole."""
    dirs, packed = ArtifactCache(tmp_path / "dirs"), ArtifactCache(tmp_path / "packed")
    dirs.packs = False
    for cache in (dirs, packed):
        cache.save("k-5", "first", meta("k-5"))
        cache.save("k-5", "second", meta("k-5"))
    assert dirs.load("k-5") == "first" and packed.load("k-5") == "second"
    assert dirs.path("k-5").is_dir() and packed.path("k-5").is_file()


def test_readers_see_whole_entries_while_writers_race(tmp_path) -> None:
    """Several writers saving one key over and over while readers read it: a reader gets
    a miss (before the first commit) or one of the written values, never a torn entry
    (nothing is ever quarantined)."""
    import threading

    values = [[i] * 2000 for i in range(4)]  # the same pickled size for every writer
    stop = threading.Event()
    seen: list[object] = []
    errors: list[BaseException] = []

    def write(v: list[int]) -> None:
        cache = ArtifactCache(tmp_path)
        for _ in range(40):
            cache.save("k-race", v, meta("k-race"))

    def read() -> None:
        cache = ArtifactCache(tmp_path)
        try:
            while not stop.is_set():
                got = cache.get("k-race")
                if got is not MISS:
                    seen.append(got[0])
                    assert got in values
        except BaseException as exc:  # reported below, from the test's thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(v,)) for v in values]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors and seen
    assert not (tmp_path / ".quarantine").exists()
    assert ArtifactCache(tmp_path).entries() == ["k-race"]
    assert [p.name for p in tmp_path.iterdir()] == ["k-race"]  # no staging left
