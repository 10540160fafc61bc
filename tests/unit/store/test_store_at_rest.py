"""Issue 11, encryption at rest in the store: cache values and artifacts, and run records,
sealed on disk when ``$SOUS_ENCRYPTION_KEY`` is set and read back transparently."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from entry_parts import EntryPart, in_layout

from engine.errors import UserError
from engine.security import at_rest
from engine.store.cache import MISS, ArtifactCache, EntryMeta
from engine.store.maintenance import verify
from engine.store.runs import RunsDB

SECRET = "zqlilac7731"


class _WithArtifacts:
    def __init__(self) -> None:
        self.frame = pd.DataFrame({"color": [SECRET, "other"], "x": [1, 2]})

    def artifacts(self) -> dict[str, object]:
        return {"quarantine": self.frame, "note.txt": f"rows of {SECRET}", "blob": b"\x00" + b"q"}


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("SOUS_SIGNING_KEY", "k" * 32)
    monkeypatch.delenv(at_rest.KEY_FILE_ENV, raising=False)
    k = at_rest.keygen()
    monkeypatch.setenv(at_rest.KEY_ENV, k)
    return k


def _meta() -> EntryMeta:
    return EntryMeta(key="", step="s", wall_s=0.0, cpu_s=0.0, peak_mem_mb=0.0)


def test_cache_entry_is_sealed_and_reads_back(key: str, tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    cache.save("k-1", _WithArtifacts(), _meta())
    for path in (tmp_path / "cache" / "k-1").iterdir():
        if path.name != "meta.json":
            raw = path.read_bytes()
            assert at_rest.is_sealed(raw), path.name
            assert SECRET.encode() not in raw
    assert cache.load("k-1").frame["color"].tolist() == [SECRET, "other"]
    table = pd.read_parquet(io.BytesIO(cache.read_artifact("k-1", "quarantine.parquet")))
    assert table["color"].tolist() == [SECRET, "other"]
    assert cache.read_artifact("k-1", "note.txt") == f"rows of {SECRET}".encode()
    assert cache.meta("k-1").artifact_rows == {"quarantine.parquet": 2}


def test_verification_needs_no_key_and_a_missing_key_is_one_clear_error(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    cache.save("k-1", _WithArtifacts(), _meta())
    monkeypatch.delenv(at_rest.KEY_ENV)
    fresh = ArtifactCache(tmp_path / "cache")
    assert fresh.has("k-1")
    assert verify(fresh) == []  # digests are over the sealed bytes
    with pytest.raises(UserError, match=r"value\.pkl is encrypted; set \$SOUS_ENCRYPTION_KEY"):
        fresh.load("k-1")
    assert fresh.has("k-1"), "a missing key is not damage: the entry stays"


def test_entries_written_before_encryption_still_load(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(at_rest.KEY_ENV)
    ArtifactCache(tmp_path / "cache").save("k-1", {"a": SECRET}, _meta())
    monkeypatch.setenv(at_rest.KEY_ENV, key)
    assert ArtifactCache(tmp_path / "cache").load("k-1") == {"a": SECRET}


def test_a_packed_entry_is_sealed_and_reads_back(key: str, tmp_path: Path) -> None:
    """A value without artifacts is one file: its value part sealed, its meta plain."""
    cache = ArtifactCache(tmp_path / "cache")
    cache.save("k-1", {"a": SECRET}, _meta())
    assert cache.path("k-1").is_file()
    assert SECRET.encode() not in cache.path("k-1").read_bytes()
    assert at_rest.is_sealed(EntryPart(cache, "k-1", "value.pkl").read())
    assert ArtifactCache(tmp_path / "cache").load("k-1") == {"a": SECRET}
    assert verify(ArtifactCache(tmp_path / "cache")) == []


def test_a_tampered_sealed_value_is_quarantined_not_opened(
    key: str, tmp_path: Path, layout: str
) -> None:
    cache = in_layout(ArtifactCache(tmp_path / "cache"), layout)
    cache.save("k-1", {"a": SECRET}, _meta())
    value = EntryPart(cache, "k-1", "value.pkl")
    data = bytearray(value.read())
    data[-5] ^= 1
    value.write(bytes(data))
    assert ArtifactCache(tmp_path / "cache").get("k-1") is MISS  # digest first: never opened
    assert not (tmp_path / "cache" / "k-1").exists()


def test_run_records_are_sealed_in_the_database(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.db"
    db = RunsDB(f"sqlite:///{path}")
    record = {
        "run_id": "r-1",
        "recipe": "shop",
        "status": "succeeded",
        "started_at": "2026-01-01T00:00:00",
        "profile": {"top": [[SECRET, 3]]},
    }
    db.start(record)
    db.finish(record)
    with sqlite3.connect(path) as con:
        stored = con.execute("select recipe, record from runs").fetchone()
    assert stored[0] == "shop"  # the indexed columns stay plain: listing needs no key
    assert SECRET not in stored[1] and at_rest.is_sealed(stored[1].encode())
    assert db.get("r-1")["profile"] == {"top": [[SECRET, 3]]}
    assert db.list()[0]["run_id"] == "r-1"
    monkeypatch.delenv(at_rest.KEY_ENV)
    with pytest.raises(UserError, match="a run record in the runs database is encrypted"):
        db.get("r-1")


def test_validation_memo_is_sealed(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import api
    from engine.recipe import memo

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    spec = api.validate("iris")
    memo.remember("k1", spec)
    raw = (tmp_path / "home" / "validated" / "k1.pkl").read_bytes()
    assert b"sepal" not in raw  # the spec's column names are not readable on disk
    assert memo.recall("k1") == spec
    monkeypatch.delenv(at_rest.KEY_ENV)
    assert memo.recall("k1") is None  # without the key it is no memo: validated in full
