"""The save path runs once per computed node, so it is kept to the fewest file operations
(issue 10): the meta encoded and signed once, the rename tried first. These tests hold the
guarantees that must survive that, in both layouts of an entry (packed, a directory):
entries published whole, the meta signed and written last, a trusted directory entry kept
(first writer wins) and a packed one replaced whole, nothing left behind."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from entry_parts import EntryPart, in_layout

from engine.store import cache as cache_module
from engine.store import signing
from engine.store.cache import MISS, ArtifactCache, EntryMeta, _canonical


def meta(key: str, **kw: object) -> EntryMeta:
    return EntryMeta(key, kw.pop("step", "step"), 1.0, 0.5, 10.0, **kw)  # type: ignore[arg-type]


def leftovers(root: Path) -> list[str]:
    """Staging directories (``.<key>.*``) or stale entries left in the root."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    "step, wall",
    [
        ("plain", 1.0),
        ('fit:rf:é→ü "quoted" \\ back', 0.1 + 0.2),  # escapes, and a float with no short form
        ("tiny", 1e-7),
        ("huge", 1.7976931348623157e308),
        ("nan", math.nan),
    ],
)
def test_meta_is_signed_over_exactly_what_the_reader_re_encodes(
    tmp_path: Path, step: str, wall: float, layout: str
) -> None:
    """The writer signs the canonical JSON once, without a round trip; the reader parses,
    drops ``hmac`` and re-encodes: the two must be the same bytes for any meta."""
    cache = in_layout(ArtifactCache(tmp_path), layout)
    cache.save("k", {"v": 1}, EntryMeta("k", step, wall, 0.5, 10.0))
    d = json.loads(EntryPart(cache, "k", "meta.json").read())
    tag = d.pop("hmac")
    assert signing.verify(_canonical(d), tag)
    got = cache.meta("k")
    assert got.step == step
    assert got.wall_s == wall or (math.isnan(got.wall_s) and math.isnan(wall))
    assert cache.load("k") == {"v": 1}


def test_a_tampered_meta_still_fails_its_signature(tmp_path: Path, layout: str) -> None:
    cache = in_layout(ArtifactCache(tmp_path), layout)
    cache.save("k", 1, meta("k"))
    part = EntryPart(cache, "k", "meta.json")
    part.write(part.read().replace(b'"wall_s":1.0', b'"wall_s":2.0'))
    assert ArtifactCache(tmp_path).get("k") is MISS


def test_save_creates_the_root_on_first_need_and_after_a_clear(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "not" / "yet")
    cache.save("a", 1, meta("a"))
    cache.clear()
    cache.save("b", 2, meta("b"))
    assert cache.load("b") == 2 and not cache.has("a")


def test_no_staging_left_after_saves_races_and_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    cache = in_layout(ArtifactCache(tmp_path), layout)
    cache.save("a", "first", meta("a"))
    # a directory entry loses the race (its staging copy is removed); a packed one replaces
    # the first whole (the same key: the same value, in real use)
    cache.save("a", "second", meta("a"))
    (tmp_path / "b").mkdir()  # an empty directory in the way (a crash before any file)
    cache.save("b", 2, meta("b"))

    def fail(data: bytes) -> str:
        raise RuntimeError("signing failed")

    with monkeypatch.context() as m, pytest.raises(RuntimeError):
        m.setattr(signing, "sign", fail)
        cache.save("c", 3, meta("c"))
    cache = ArtifactCache(tmp_path)
    assert cache.load("a") == ("second" if layout == "packed" else "first")
    assert cache.load("b") == 2
    assert not cache.has("c") and not (tmp_path / "c").exists()
    assert leftovers(tmp_path) == []


def test_an_unsigned_entry_in_the_way_is_replaced_not_kept(tmp_path: Path, layout: str) -> None:
    """The rename is tried first; when an entry is there, it is kept only if trusted."""
    cache = in_layout(ArtifactCache(tmp_path), layout)
    cache.save("k", "mine", meta("k"))
    part = EntryPart(cache, "k", "meta.json")
    d = json.loads(part.read())
    d["hmac"] = "0" * 64
    part.write(json.dumps(d).encode())
    fresh = in_layout(ArtifactCache(tmp_path), layout)
    fresh.save("k", "again", meta("k"))
    assert fresh.load("k") == "again"
    assert [n for n in leftovers(tmp_path) if n != ".quarantine"] == []


def test_a_crash_before_the_meta_leaves_no_entry_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """A worker dying between writing the value and publishing the entry: the staged files
    are never seen as an entry (even when left behind), and the next save of the key
    succeeds."""
    cache = in_layout(ArtifactCache(tmp_path), layout)
    remove = cache_module.remove_path

    def die(meta: EntryMeta) -> bytes:
        raise KeyboardInterrupt  # stands for the process going away mid-save

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(cache_module, "_signed_meta_bytes", die)
        m.setattr(cache_module, "remove_path", lambda path: None)  # dead: cleans nothing up
        m.setattr(cache_module.shutil, "rmtree", lambda *a, **k: None)
        cache.save("k", 1, meta("k"))
    assert [n for n in leftovers(tmp_path)]  # the staged copy is there ...
    assert not cache.has("k") and cache.entries() == []  # ... and is no entry
    assert cache_module.remove_path is remove
    cache.save("k", 1, meta("k"))
    assert cache.load("k") == 1


def test_the_meta_is_encoded_as_asdict_would() -> None:
    """The save path builds the meta's dict without ``dataclasses.asdict``'s deep copy: the
    signed bytes must stay what ``asdict`` gives, for every field, so entries written before
    still verify."""
    from dataclasses import asdict

    from engine.store.cache import _meta_dict

    full = EntryMeta(
        "k", "s", 1.5, 0.2, 3.0, ("t.parquet", "n.txt"), 10, {"t.parquet": 3},
        {"value.pkl": "ab", "t.parquet": "cd"}, {"value.pkl": 4, "t.parquet": 9},
    )  # fmt: skip
    for m in (full, meta("k")):
        assert _canonical(_meta_dict(m)) == _canonical(asdict(m))
