"""The runs database: WAL, owner-only, a held lock waits then fails clearly, a damaged file
is one line naming it and the way back, backup and restore (issue 11)."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.store import db, registry
from engine.store.db import DatabaseBusy, DatabaseCorrupt
from engine.store.runs import RunsDB


def record(run_id: str) -> dict[str, object]:
    return {
        "run_id": run_id,
        "recipe": "iris",
        "status": "ok",
        "started_at": f"2026-01-0{run_id[-1]}",
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    return tmp_path / "home"


def test_new_database_is_owner_only_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    RunsDB(f"sqlite:///{path}").start(record("r1"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:1000]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(b"this is not sqlite" * 100), id="garbage"),
    ],
)
def test_damaged_database_is_one_line_naming_the_file(
    home: Path, capsys: pytest.CaptureFixture[str], damage
) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{home / 'runs.db'}"
    home.mkdir(parents=True)
    for i in range(1, 6):
        RunsDB(url).start(record(f"r{i}"))
    db.forget(url)
    for suffix in ("-wal", "-shm"):
        (home / f"runs.db{suffix}").unlink(missing_ok=True)
    damage(home / "runs.db")
    assert main(["runs", "ls"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(home / "runs.db") in err and "sous db restore" in err
    db.forget(url)
    with pytest.raises(DatabaseCorrupt) as info:
        registry.names(url=url)
    assert info.value.path == str(home / "runs.db")
    db.forget(url)


def _hold_write_lock(path: Path, seconds: float, ready: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    ready.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


@pytest.fixture
def small_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOUS_DB_TIMEOUT", "0.2")


def _url_with_version(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    registry.record_version(
        "iris", "v1", model_tag="m", bento_tag="b", metrics={}, labels={}, url=url
    )
    return url


def test_a_briefly_held_lock_is_waited_out(tmp_path: Path, small_timeout: None) -> None:
    url = _url_with_version(tmp_path)
    ready = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "runs.db", 0.5, ready))
    holder.start()
    ready.wait()
    try:
        assert registry.promote("iris", "v1", "staging", url=url) is None  # retried, then moved
    finally:
        holder.join()
    assert registry.get_alias("iris", "staging", url=url) == "v1"


def test_a_lock_held_past_every_retry_is_a_clear_error(tmp_path: Path, small_timeout: None) -> None:
    url = _url_with_version(tmp_path)
    ready = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "runs.db", 3.0, ready))
    holder.start()
    ready.wait()
    try:
        with pytest.raises(DatabaseBusy) as info:
            registry.promote("iris", "v1", "staging", url=url)
    finally:
        holder.join()
    assert info.value.path == str(tmp_path / "runs.db")
    assert "\n" not in str(info.value) and "locked" in str(info.value)


def test_backup_and_restore(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{home / 'runs.db'}"
    home.mkdir(parents=True)
    RunsDB(url).start(record("r1"))
    backup = tmp_path / "backup.db"
    assert main(["db", "backup", str(backup)]) == 0
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert main(["db", "backup", str(backup)]) == 2  # never overwrites
    RunsDB(url).start(record("r2"))
    db.forget(url)
    (home / "runs.db").write_bytes(b"\0" * 4096)  # lost
    assert main(["db", "restore", str(backup)]) == 0
    assert [r["run_id"] for r in RunsDB(url).list()] == ["r1"]
    assert stat.S_IMODE((home / "runs.db").stat().st_mode) == 0o600
    capsys.readouterr()
    (tmp_path / "bad.db").write_bytes(b"garbage" * 500)
    assert main(["db", "restore", str(tmp_path / "bad.db")]) == 1  # checked before replacing
    assert "bad.db" in capsys.readouterr().err
    assert [r["run_id"] for r in RunsDB(url).list()] == ["r1"]
    db.forget(url)


def test_backup_refuses_a_non_sqlite_database(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOUS_DB_URL", "postgresql://u@localhost/sous")
    assert main(["db", "backup", str(tmp_path / "x.db")]) == 2
