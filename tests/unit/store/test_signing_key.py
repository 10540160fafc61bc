"""The per-user signing key: created on first use, owner-only, the same for every process."""

from __future__ import annotations

import multiprocessing as mp
import stat
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.store import signing


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SOUS_SIGNING_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(signing, "_file_keys", {})
    return tmp_path / "config"


def test_key_file_created_on_first_use_owner_only(config_home: Path) -> None:
    tag = signing.sign(b"x")
    path = config_home / "sous" / "signing.key"
    assert signing.key_path() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_text().strip()) == 64
    signing._file_keys.clear()
    assert signing.sign(b"x") == tag  # read back, not regenerated


def _sign_in_child(barrier, results) -> None:  # type: ignore[no-untyped-def]
    from engine.store import signing

    barrier.wait()
    results.put(signing.sign(b"same"))


def test_processes_creating_the_key_at_once_agree(config_home: Path) -> None:
    ctx = mp.get_context("spawn")
    n = 4
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_sign_in_child, args=(barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    tags = {results.get(timeout=120) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert len(tags) == 1
    assert tags == {signing.sign(b"same")}


def test_environment_key_wins_and_must_not_be_trivial(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOUS_SIGNING_KEY", "a-team-shared-key-0123456789")
    signing.sign(b"x")
    assert not (config_home / "sous" / "signing.key").exists()
    monkeypatch.setenv("SOUS_SIGNING_KEY", "")  # an undefined CI secret: the key file is used
    assert signing.signing_key() == (config_home / "sous" / "signing.key").read_bytes().strip()
    monkeypatch.setenv("SOUS_SIGNING_KEY", "short")
    with pytest.raises(UserError, match="SOUS_SIGNING_KEY"):
        signing.sign(b"x")


def test_empty_key_file_is_a_user_error(config_home: Path) -> None:
    path = config_home / "sous" / "signing.key"
    path.parent.mkdir(parents=True)
    path.write_text("")
    with pytest.raises(UserError, match=r"signing\.key"):
        signing.sign(b"x")


def test_unwritable_config_home_is_a_user_error(config_home: Path) -> None:
    import os

    if os.geteuid() == 0:
        config_home.write_text("a file where a directory should be")  # root ignores modes
    else:
        config_home.mkdir(mode=0o500)
    with pytest.raises(UserError, match="SOUS_SIGNING_KEY"):
        signing.sign(b"x")


def test_the_key_follows_where_the_environment_says_it_is(
    config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key file's path is remembered per (XDG_CONFIG_HOME, HOME), not once: a process
    that moves its config home signs under the key found there."""
    first = signing.sign(b"x")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other"))
    second = signing.sign(b"x")
    assert second != first and (tmp_path / "other" / "sous" / "signing.key").is_file()
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    third = signing.sign(b"x")
    assert third not in (first, second)
    assert (tmp_path / "home" / ".config" / "sous" / "signing.key").is_file()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    assert signing.sign(b"x") == first
