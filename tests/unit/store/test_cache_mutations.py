"""Property: whatever bytes of an entry are changed, cut or removed, the cache returns the
original value or a miss; it never raises and never runs a pickle it did not write. Both
layouts: a directory entry's two files, and a packed entry's one file (value, meta, footer)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from entry_parts import in_layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.store.cache import MISS, ArtifactCache, EntryMeta

VALUE = {"rows": list(range(40)), "split": ("train",) * 5 + ("test",) * 5}

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("append"), st.integers(1, 64), st.just(0)),
    st.tuples(st.just("delete"), st.just(0), st.just(0)),
)


def mutate(path: Path, how: tuple[str, int, int]) -> None:
    kind, at, by = how
    if kind == "delete":
        path.unlink()
        return
    data = bytearray(path.read_bytes())
    if kind == "flip" and data:
        data[at % len(data)] ^= by
    elif kind == "cut":
        data = data[: at % max(1, len(data))]
    elif kind == "append":
        data += b"\x80" * at
    path.write_bytes(bytes(data))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file=st.sampled_from(["value.pkl", "meta.json", "packed"]), how=mutation)
def test_any_mutation_is_the_original_or_a_miss(file: str, how: tuple[str, int, int]) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        cache = in_layout(ArtifactCache(root), "packed" if file == "packed" else "directory")
        cache.save("k", VALUE, EntryMeta("k", "step", 0.0, 0.0, 0.0))
        mutate(root / "k" if file == "packed" else root / "k" / file, how)
        fresh = ArtifactCache(root)
        got = fresh.get("k")
        assert got is MISS or got == VALUE
        if got is MISS:
            assert not fresh.has("k")  # quarantined: the next run recomputes it
    finally:
        shutil.rmtree(root, ignore_errors=True)
