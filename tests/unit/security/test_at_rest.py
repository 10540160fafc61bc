"""Issue 11, encryption at rest: the seal/unseal API, keys from the environment, rotation."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.security import at_rest


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(at_rest.KEY_ENV, raising=False)
    monkeypatch.delenv(at_rest.KEY_FILE_ENV, raising=False)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch, no_key: None) -> str:
    k = at_rest.keygen()
    monkeypatch.setenv(at_rest.KEY_ENV, k)
    return k


def test_off_when_unset_writes_plain(no_key: None, tmp_path: Path) -> None:
    assert not at_rest.enabled()
    assert at_rest.seal(b"zebrablue") == b"zebrablue"
    at_rest.write_sealed(tmp_path / "f", b"zebrablue")
    assert (tmp_path / "f").read_bytes() == b"zebrablue"
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_sealed_file_holds_no_plaintext_and_round_trips(key: str, tmp_path: Path) -> None:
    assert at_rest.enabled()
    path = tmp_path / "f"
    at_rest.write_sealed(path, b"a row with zebrablue in it")
    raw = path.read_bytes()
    assert raw.startswith(at_rest.MAGIC) and b"zebrablue" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert at_rest.read_sealed(path) == b"a row with zebrablue in it"
    assert not list(tmp_path.glob(".*tmp")), "no temp file left behind"


def test_plain_files_written_before_encryption_stay_readable(key: str, tmp_path: Path) -> None:
    (tmp_path / "old").write_bytes(b"plain")
    assert at_rest.read_sealed(tmp_path / "old") == b"plain"


def test_missing_key_names_the_file(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "value.pkl"
    at_rest.write_sealed(path, b"secret")
    monkeypatch.delenv(at_rest.KEY_ENV)
    with pytest.raises(UserError, match=r"value\.pkl is encrypted; set \$SOUS_ENCRYPTION_KEY") as e:
        at_rest.read_sealed(path)
    assert e.value.exit_code == 2


def test_wrong_key_is_a_user_error(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "value.pkl"
    at_rest.write_sealed(path, b"secret")
    monkeypatch.setenv(at_rest.KEY_ENV, at_rest.keygen())
    with pytest.raises(UserError, match=r"value\.pkl is encrypted under a key"):
        at_rest.read_sealed(path)


def test_rotation_first_key_seals_all_keys_open(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = at_rest.seal(b"old data")
    new_key = at_rest.keygen()
    monkeypatch.setenv(at_rest.KEY_ENV, f"{new_key},{key}")
    assert at_rest.unseal(old) == b"old data"
    fresh = at_rest.seal(b"new data")
    monkeypatch.setenv(at_rest.KEY_ENV, new_key)  # the old key retired: new files still open
    assert at_rest.unseal(fresh) == b"new data"
    with pytest.raises(UserError):
        at_rest.unseal(old)


def test_key_from_a_file(no_key: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyfile = tmp_path / "enc.key"
    keyfile.write_text(at_rest.keygen() + "\n")
    monkeypatch.setenv(at_rest.KEY_FILE_ENV, str(keyfile))
    assert at_rest.enabled()
    old = at_rest.seal(b"x")
    assert at_rest.unseal(old) == b"x"
    keyfile.write_text(at_rest.keygen() + "\n")  # replaced (rotation without the old key)
    with pytest.raises(UserError):
        at_rest.unseal(old)
    monkeypatch.setenv(at_rest.KEY_FILE_ENV, str(tmp_path / "missing.key"))
    with pytest.raises(UserError, match="cannot read the encryption key file"):
        at_rest.enabled()


def test_a_malformed_key_says_which(no_key: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(at_rest.KEY_ENV, f"{at_rest.keygen()},not-a-key")
    with pytest.raises(UserError, match="key 2 of 2 in \\$SOUS_ENCRYPTION_KEY is not a Fernet"):
        at_rest.seal(b"x")


def test_decrypt_command(key: str, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    at_rest.write_sealed(path, b"<html>zebrablue</html>")
    out = subprocess.run(
        [sys.executable, "-m", "engine.security.at_rest", "decrypt", str(path)],
        capture_output=True,
        check=True,
    )
    assert out.stdout == b"<html>zebrablue</html>"
    bad = subprocess.run(
        [sys.executable, "-m", "engine.security.at_rest", "decrypt", str(path)],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert bad.returncode == 2 and b"is encrypted; set $SOUS_ENCRYPTION_KEY" in bad.stderr
    assert b"Traceback" not in bad.stderr


def test_the_readiness_row_is_sealed_in_the_model_metadata(key: str) -> None:
    from engine.serving.runtime.readiness import row_of, sealed_row

    stored = sealed_row(["zebrablue", 3.5])
    assert isinstance(stored, str) and "zebrablue" not in stored
    assert row_of(stored) == ["zebrablue", 3.5]


def test_the_readiness_row_is_plain_without_a_key(no_key: None) -> None:
    from engine.serving.runtime.readiness import row_of, sealed_row

    assert sealed_row(["zebrablue", 3.5]) == ["zebrablue", 3.5]
    assert row_of(["zebrablue", 3.5]) == ["zebrablue", 3.5]
    assert row_of(None) is None
