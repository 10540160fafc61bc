"""A run's two writes (start, finish) go straight to an existing SQLite runs database without
importing SQLAlchemy; what they write reads back through it like any record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.store.runs import RunsDB


def _record(run_id: str, status: str) -> dict[str, object]:
    return {
        "run_id": run_id,
        "recipe": "iris",
        "status": status,
        "started_at": "2026-01-01T00:00:00.000+00:00",
        "finished_at": None if status == "running" else "2026-01-01T00:00:01.000+00:00",
    }


def test_writes_without_sqlalchemy_read_back_through_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    RunsDB(url).start(_record("r0", "running"))  # a new file: SQLAlchemy creates the tables
    probe = f"""
import sys
from engine.store.runs import RunsDB
db = RunsDB({url!r})
record = {_record("r1", "running")!r}
db.start(record, "g1")
db.finish({{**record, "status": "succeeded", "finished_at": "2026-01-01T00:00:02.000+00:00"}})
print("sqlalchemy" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    db = RunsDB(url)
    assert db.get("r1")["status"] == "succeeded"
    assert db.group_of("r1") == "g1"
    assert [r["run_id"] for r in db.list()] == ["r1", "r0"]
    assert oct((tmp_path / "runs.db").stat().st_mode & 0o777) == "0o600"


def test_a_file_without_the_runs_table_falls_back(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "runs.db"
    with sqlite3.connect(path) as conn:  # e.g. made by the registry first
        conn.execute("CREATE TABLE other (x)")
    db = RunsDB(f"sqlite:///{path}")
    db.start(_record("r1", "running"))
    assert db.get("r1")["status"] == "running"
