"""The recipe validation memo (``$SOUS_HOME/validated/*.pkl``) is sealed under the signing
key: a memo planted in a cloned ``.sous`` is ignored, never unpickled (issue 11)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from engine.recipe import memo
from engine.store import signing


class Planted:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_planted_memo_is_not_unpickled(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (home / "validated").mkdir(parents=True)
    (home / "validated" / "abc.pkl").write_bytes(pickle.dumps(Planted(marker)))
    assert memo.recall("abc") is None
    assert not marker.exists()


def test_memo_sealed_under_another_key_is_not_unpickled(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setenv("SOUS_SIGNING_KEY", "another-users-key-" + "9" * 32)
    blob = signing.seal(pickle.dumps(Planted(marker)))
    monkeypatch.setenv("SOUS_SIGNING_KEY", "test-signing-key-" + "0" * 32)
    (home / "validated").mkdir(parents=True)
    (home / "validated" / "abc.pkl").write_bytes(blob)
    assert memo.recall("abc") is None
    assert not marker.exists()


def test_a_real_spec_round_trips(home: Path) -> None:
    from engine import api

    spec = api.validate("iris")
    memo.remember("k1", spec)
    assert memo.recall("k1") == spec
    raw = (home / "validated" / "k1.pkl").read_bytes()
    assert signing.unseal(raw) is not None
    (home / "validated" / "k1.pkl").write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    assert memo.recall("k1") is None


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"sous-sealed-v1:", id="no-tag"),
        pytest.param(b"sous-sealed-v1:zz\npayload", id="bad-tag"),
        pytest.param(b"sous-sealed-v1:\xff\xfe\npayload", id="non-ascii-tag"),
    ],
)
def test_unseal_refuses_anything_not_sealed_by_us(blob: bytes) -> None:
    assert signing.unseal(blob) is None


def test_seal_round_trip() -> None:
    assert signing.unseal(signing.seal(b"hello")) == b"hello"
