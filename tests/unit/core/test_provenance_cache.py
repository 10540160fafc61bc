"""Code fingerprints kept on disk: reused only while every file they were computed from is
unchanged, and only if Sous sealed them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine import provenance_cache as pc

ANSWER = pc.Remembered("abc123", frozenset({"numpy"}))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "code-cache"
    monkeypatch.setenv(pc.DIR_ENV, str(root))
    monkeypatch.delenv(pc.OFF_ENV, raising=False)
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "mod.py"
    path.parent.mkdir()
    path.write_text("def f():\n    return 1\n")
    return path


def test_an_unchanged_file_reuses_the_answer(cache: Path, source: Path) -> None:
    pc.remember("mod:f", str(source), ANSWER, [str(source)])
    assert pc.recall("mod:f", str(source)) == ANSWER
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert pc.recall("mod:g", str(source)) is None  # another function: its own entry


def test_an_edit_hidden_behind_a_restored_mtime_is_a_miss(cache: Path, source: Path) -> None:
    pc.remember("mod:f", str(source), ANSWER, [str(source)])
    before = source.stat()
    source.write_text("def f():\n    return 2\n")  # same size
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))  # like `touch -r`
    assert source.stat().st_size == before.st_size
    assert source.stat().st_mtime_ns == before.st_mtime_ns
    assert pc.recall("mod:f", str(source)) is None


def test_a_module_added_beside_the_files_is_a_miss(cache: Path, source: Path) -> None:
    """A new file can change what an import resolves to: the directory is stamped too."""
    pc.remember("mod:f", str(source), ANSWER, [str(source)])
    (source.parent / "new.py").write_text("")
    assert pc.recall("mod:f", str(source)) is None


def test_an_entry_not_sealed_under_our_key_is_ignored(cache: Path, source: Path) -> None:
    """Whoever can write the directory cannot make a changed file reuse a stale answer: an
    entry rewritten with today's stamps but without the signing key's HMAC is a miss."""
    pc.remember("mod:f", str(source), ANSWER, [str(source)])
    (entry,) = cache.glob("*.json")
    blob = entry.read_bytes()
    source.write_text("def f():\n    return 3\n")
    tag, _, payload = blob.partition(b"\n")
    forged = payload.replace(b"abc123", b"fff999")
    entry.write_bytes(tag + b"\n" + forged)
    assert pc.recall("mod:f", str(source)) is None
    entry.write_bytes(payload)  # no seal at all
    assert pc.recall("mod:f", str(source)) is None


def test_the_switch_turns_it_off(
    cache: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pc.OFF_ENV, "1")
    pc.remember("mod:f", str(source), ANSWER, [str(source)])
    assert not cache.exists()


PROBE = """
import sys
from engine import provenance
from engine.steps import data, train
print(provenance.code_fingerprint(data.profile), provenance.code_fingerprint(train.fit_score),
      sorted(provenance.deciding_libraries(train.fit_score)), "sklearn" in sys.modules)
"""


def _probe(env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split(" ", 2)


def test_a_second_process_reuses_the_fingerprints_without_parsing(cache: Path) -> None:
    """The same answers as computing them, and without the imports resolving them costs."""
    env = {**os.environ, pc.DIR_ENV: str(cache)}
    computed = _probe({**env, pc.OFF_ENV: "1"})
    first = _probe(env)
    second = _probe(env)
    assert first[:2] == second[:2] == computed[:2]
    assert second[2].split("]")[0] == computed[2].split("]")[0]
    assert list(cache.glob("*.json"))
    assert second[2].strip().endswith("False"), "a remembered fingerprint imports nothing"
