"""The artifact cache on an fsspec URL (``file://`` here; S3 in
tests/integration/test_shared_store.py): same verification, quarantine and encryption as
the local cache, ``meta.json`` published last."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest

from engine.store import fs
from engine.store.cache import MISS, ArtifactCache, EntryMeta, SharedArtifactCache


class Table:
    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def artifacts(self) -> dict[str, object]:
        return {"table": self.frame, "note": "hello"}


def meta(key: str) -> EntryMeta:
    return EntryMeta(key, "step", 0.1, 0.1, 1.0)


def url(path: Path) -> str:
    return f"file://{path}"


def test_a_url_makes_a_shared_cache_and_a_path_the_local_one(tmp_path: Path) -> None:
    assert type(ArtifactCache(url(tmp_path))) is SharedArtifactCache
    assert type(ArtifactCache(tmp_path)) is ArtifactCache
    assert ArtifactCache(url(tmp_path)).location == url(tmp_path)


def test_entries_round_trip_and_are_seen_by_another_process_view(tmp_path: Path) -> None:
    store = tmp_path / "shared"
    cache = ArtifactCache(url(store))
    value = Table(pd.DataFrame({"a": [1, 2, 3]}))
    cache.save("k-1", value, meta("k-1"))
    other = ArtifactCache(url(store))  # another machine: a fresh view, nothing memoised
    assert other.has("k-1") and other.entries() == ["k-1"]
    assert other.load("k-1").frame.equals(value.frame)
    assert other.read_artifact("k-1", "note") == b"hello"
    assert pd.read_parquet(store / "k-1" / "table.parquet").equals(value.frame)
    assert other.meta("k-1").rows == 3 and other.verify("k-1") is None
    assert str(other.artifact_path("k-1", "note")) == f"{url(store)}/k-1/note"


def test_entries_are_folders_and_a_local_one_file_entry_is_set_aside(tmp_path: Path) -> None:
    """The shared store publishes every entry as a folder (no rename on an object store). A
    mount that holds a local cache's one-file entries (used as the store) gets a miss for
    each, moved to the quarantine, then the folder in its place: never a crash."""
    shared = ArtifactCache(url(tmp_path))
    shared.save("k-1", [1], meta("k-1"))
    assert (tmp_path / "k-1").is_dir() and shared.load("k-1") == [1]
    local = ArtifactCache(tmp_path)
    local.save("k-2", [2], meta("k-2"))
    assert (tmp_path / "k-2").is_file() and local.load("k-2") == [2]
    assert shared.get("k-2") is MISS
    assert [p.name.split(".")[0] for p in (tmp_path / ".quarantine").iterdir()] == ["k-2"]
    shared.save("k-2", [2], meta("k-2"))
    assert (tmp_path / "k-2").is_dir() and ArtifactCache(url(tmp_path)).load("k-2") == [2]


def test_meta_is_published_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    upload = fs.RemoteFiles.upload

    def watched(self: fs.RemoteFiles, src: Path, *parts: str) -> None:
        order.append(parts[-1])
        upload(self, src, *parts)

    monkeypatch.setattr(fs.RemoteFiles, "upload", watched)
    ArtifactCache(url(tmp_path)).save("k-2", Table(pd.DataFrame({"a": [1]})), meta("k-2"))
    assert order[-1] == "meta.json" and set(order) == {"value.pkl", "table.parquet", "note",
                                                       "meta.json"}  # fmt: skip


def test_an_entry_without_its_meta_is_a_miss_then_completed(tmp_path: Path) -> None:
    cache = ArtifactCache(url(tmp_path))
    (tmp_path / "k-3").mkdir()
    (tmp_path / "k-3" / "value.pkl").write_bytes(b"half an upload")  # a writer died here
    assert not cache.has("k-3") and cache.get("k-3") is MISS
    cache.save("k-3", 42, meta("k-3"))
    assert ArtifactCache(url(tmp_path)).load("k-3") == 42


def test_a_tampered_entry_is_a_miss_and_quarantined_in_the_store(tmp_path: Path) -> None:
    cache = ArtifactCache(url(tmp_path))
    cache.save("k-4", {"x": 1}, meta("k-4"))
    value = tmp_path / "k-4" / "value.pkl"
    data = value.read_bytes()
    value.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, other bytes
    fresh = ArtifactCache(url(tmp_path))
    assert fresh.has("k-4")  # sizes agree: the digest is checked on load
    assert fresh.get("k-4") is MISS
    assert not (tmp_path / "k-4").exists()
    (moved,) = (tmp_path / ".quarantine").iterdir()
    assert "digest" in (moved / "QUARANTINED").read_text()
    assert fresh.entries() == []


def test_an_entry_signed_under_another_key_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ArtifactCache(url(tmp_path)).save("k-5", 5, meta("k-5"))
    monkeypatch.setenv("SOUS_SIGNING_KEY", "another-team-key-" + "x" * 20)
    assert not ArtifactCache(url(tmp_path)).has("k-5")


def test_encryption_at_rest_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.setenv("SOUS_ENCRYPTION_KEY", Fernet.generate_key().decode())
    cache = ArtifactCache(url(tmp_path))
    cache.save("k-6", Table(pd.DataFrame({"secret": ["s3cr3t"]})), meta("k-6"))
    for name in ("value.pkl", "note", "table.parquet"):
        assert b"s3cr3t" not in (tmp_path / "k-6" / name).read_bytes()
        assert b"hello" not in (tmp_path / "k-6" / name).read_bytes()
    assert ArtifactCache(url(tmp_path)).read_artifact("k-6", "note") == b"hello"
    digest = hashlib.sha256((tmp_path / "k-6" / "value.pkl").read_bytes()).hexdigest()
    assert cache.meta("k-6").digests["value.pkl"] == digest  # over the sealed bytes


def test_the_location_comes_from_sous_cache_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(fs.URL_ENV, raising=False)
    assert fs.cache_location() == str(tmp_path / "home" / "cache")
    monkeypatch.setenv(fs.URL_ENV, "s3://bucket/team")
    assert fs.cache_location() == "s3://bucket/team"
    assert fs.is_url("s3://b") and not fs.is_url(os.sep + "mnt")
