"""Every alias move says who, why and from which run; production needs a passed smoke test;
``sous serve NAME`` without an alias refuses an untested version (issue 11)."""

from __future__ import annotations

import getpass
import json
import os
import socket
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import UserError
from engine.store import registry
from engine.store.registry import Mover


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    u = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("SOUS_DB_URL", u)
    for v in ("v1", "v2", "v3"):
        registry.record_version(
            "iris", v, model_tag=f"iris:{v}", bento_tag=None, metrics={}, labels={}, url=u
        )
    registry.record_smoke("iris", "v1", True, run_id="run-1", url=u)
    registry.record_smoke("iris", "v2", False, run_id="run-2", detail="p99 too slow", url=u)
    return u  # v3: packaged, smoke never ran (the run was killed)


def test_a_move_records_actor_reason_and_run(url: str) -> None:
    registry.promote(
        "iris", "v1", "staging", url=url, mover=Mover(reason="nightly", run_id="run-1")
    )
    (event,) = registry.history("iris", url=url)
    assert event.actor == f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
    assert (event.reason, event.run_id, event.forced) == ("nightly", "run-1", False)


@pytest.mark.parametrize("version", ["v2", "v3"], ids=["smoke-failed", "smoke-never-ran"])
def test_production_needs_a_passed_smoke_test(url: str, version: str) -> None:
    with pytest.raises(UserError) as info:
        registry.promote("iris", version, "production", url=url)
    assert "smoke" in str(info.value) and "--force" in str(info.value)
    assert registry.get_alias("iris", "production", url=url) is None
    registry.promote("iris", version, "staging", url=url)  # staging is where it gets tested


def test_force_is_recorded(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["promote", "iris", "v3", "--to", "production"]) == 2
    assert "never passed its smoke test" in capsys.readouterr().err
    argv = ["promote", "iris", "v3", "--to", "production", "--force", "--reason", "hotfix #12"]
    assert main(argv) == 0
    assert "forced" in capsys.readouterr().out
    (event,) = registry.history("iris", url=url)
    assert event.forced and event.reason == "hotfix #12" and event.run_id is None


def test_models_history_table_and_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["promote", "iris", "v1", "--to", "production", "--reason", "first"]) == 0
    registry.promote("iris", "v2", "production", url=url, mover=Mover(reason="try", force=True))
    assert main(["rollback", "iris", "--reason", "v2 too slow"]) == 0
    capsys.readouterr()
    assert main(["models", "history", "iris", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["version"], e["reason"], e["forced"]) for e in events] == [
        ("promote", "v1", "first", False),
        ("promote", "v2", "try", True),
        ("rollback", "v1", "v2 too slow", False),
    ]
    assert all(e["actor"].startswith(getpass.getuser() + "@") for e in events)
    assert main(["models", "history", "iris"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["at", "alias", "action", "version"]
    assert "promote (forced)" in table[2] and table[3].endswith("v2 too slow")
    assert main(["models", "history", "nope"]) == 2


def test_events_of_an_older_database_get_the_audit_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE registry_alias_events (id INTEGER PRIMARY KEY, name VARCHAR(128) NOT NULL,"
        " alias VARCHAR(32) NOT NULL, action VARCHAR(16) NOT NULL, version VARCHAR(64) NOT NULL,"
        " previous VARCHAR(64), at VARCHAR(40) NOT NULL)"
    )
    conn.execute(
        "INSERT INTO registry_alias_events (name, alias, action, version, at)"
        " VALUES ('iris', 'staging', 'promote', 'v0', '2025')"
    )
    conn.commit()
    conn.close()
    url = f"sqlite:///{path}"
    (old,) = registry.history("iris", url=url)
    assert old.actor is None and not old.forced
    registry.record_version(
        "iris", "v1", model_tag="m", bento_tag=None, metrics={}, labels={}, url=url
    )
    registry.promote("iris", "v1", "staging", url=url, mover=Mover(reason="r"))
    assert registry.history("iris", url=url)[-1].reason == "r"


def test_serve_without_alias_picks_only_a_smoke_tested_version(url: str) -> None:
    from engine.serving.targets import resolve_version

    assert resolve_version("iris") == ("iris", "v1")  # v3 is newer but never smoke-tested
    assert resolve_version("iris:v3") == ("iris", "v3")  # named explicitly: the operator's call
    registry.record_smoke("iris", "v1", False, url=url)
    with pytest.raises(UserError, match="refusing to serve an untested model"):
        resolve_version("iris")
