"""Cache entries as the store tests handle them, whatever their layout (packed or a
directory, see engine/store/cache.py): save in a chosen layout, read and damage one part."""

from __future__ import annotations

from engine.store.cache import PACKED_MAGIC, VALUE, ArtifactCache


def in_layout(cache: ArtifactCache, layout: str) -> ArtifactCache:
    """``cache``, saving values without artifacts in ``layout`` (readers take either)."""
    cache.packs = layout == "packed"
    return cache


class EntryPart:
    """One part of a saved entry, its value's or its meta's bytes, read and rewritten in
    place whatever the layout: what an attacker or a damaged disk does to an entry. In a
    packed entry the rest of the file (the other part, a well-formed footer) is kept, so
    what is tested is the check of that part, not the footer's."""

    def __init__(self, cache: ArtifactCache, key: str, name: str):
        self.path, self.name = cache.path(key), name

    def read(self) -> bytes:
        if self.path.is_dir():
            return (self.path / self.name).read_bytes()
        value, meta = _split(self.path.read_bytes())
        return value if self.name == VALUE else meta

    def write(self, data: bytes) -> None:
        if self.path.is_dir():
            (self.path / self.name).write_bytes(data)
            return
        value, meta = _split(self.path.read_bytes())
        value, meta = (data, meta) if self.name == VALUE else (value, data)
        self.path.write_bytes(value + meta + len(meta).to_bytes(8, "big") + PACKED_MAGIC)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """A packed entry's value and meta bytes."""
    meta_len = int.from_bytes(raw[-16:-8], "big")
    end = len(raw) - 16
    return raw[: end - meta_len], raw[end - meta_len : end]
