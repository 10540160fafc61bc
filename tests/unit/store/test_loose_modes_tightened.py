"""Issue 11: files made owner-only on creation are also tightened when an older version (or a
copy) left them readable by others: the runs database with its WAL files, the signing key
and its directory, a request-log directory."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from engine.store import db, signing


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_existing_0644_runs_db_is_tightened_when_opened(tmp_path: Path) -> None:
    from engine.store.runs import RunsDB

    path = tmp_path / "runs.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("create table t (x)")
    con.execute("insert into t values (1)")
    con.commit()  # the WAL and shared-memory files exist while this connection is open
    for p in tmp_path.glob("runs.db*"):
        os.chmod(p, 0o644)
    assert {p.name for p in tmp_path.glob("runs.db*")} >= {"runs.db", "runs.db-wal"}
    url = f"sqlite:///{path}"
    try:
        RunsDB(url).list()
        for p in tmp_path.glob("runs.db*"):
            assert mode(p) == 0o600, p.name
    finally:
        con.close()
        db.forget(url)


def test_a_readable_signing_key_is_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = signing.key_path()
    key.parent.mkdir(parents=True)
    key.write_text("a" * 64 + "\n")
    os.chmod(key, 0o644)
    os.chmod(key.parent, 0o755)
    monkeypatch.setattr(signing, "_file_keys", {})
    assert signing.signing_key() == b"a" * 64
    assert mode(key) == 0o600
    assert mode(key.parent) == 0o700


def test_a_loose_request_log_directory_is_tightened_on_write(tmp_path: Path) -> None:
    from engine.serving.runtime.reqlog import RequestLog

    directory = tmp_path / "serving" / "m" / "requests"
    directory.mkdir(parents=True)
    os.chmod(directory, 0o755)
    log = RequestLog(directory)
    log.write([{"x": 1.0}], [{"prediction": 0}])
    written = log.flush()
    assert written is not None
    assert mode(directory) == 0o700
    assert mode(written) == 0o600
