"""Property: whatever bytes of an entry are changed, cut or removed, the cache returns the
original value or a miss; it never raises and never runs a pickle it did not write."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

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
@given(file=st.sampled_from(["value.pkl", "meta.json"]), how=mutation)
def test_any_mutation_is_the_original_or_a_miss(file: str, how: tuple[str, int, int]) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        ArtifactCache(root).save("k", VALUE, EntryMeta("k", "step", 0.0, 0.0, 0.0))
        mutate(root / "k" / file, how)
        fresh = ArtifactCache(root)
        got = fresh.get("k")
        assert got is MISS or got == VALUE
        if got is MISS:
            assert not fresh.has("k")  # quarantined: the next run recomputes it
    finally:
        shutil.rmtree(root, ignore_errors=True)
