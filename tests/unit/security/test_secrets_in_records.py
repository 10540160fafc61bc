"""Issue 11, secrets: a password in a SQL URL and a value read with ``${oc.env:...}`` reach
the run (it needs them) but neither ``runs.db`` nor ``sous runs show --json``; cache keys
still follow them (a secret that changes the data changes the keys).

SQLite refuses a URL with a password, so the end-to-end run reads SQLite with the salt in its
query; the URL password goes through the same record path (validation, ``start_record``,
the runs database, ``sous runs show``) with a PostgreSQL URL, and through a real run against
PostgreSQL when ``SOUS_TEST_PG_URL`` is set (.ci/run)."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from pathlib import Path

import pytest

from engine.cli import main

PASSWORD = "hunter2-pw-7f3a"
SALT = "pepper-salt-value-42"
RECIPE = """
name: secrets
task: classification
target: target
data:
  sources:
    iris:
      kind: sql
      url: {url}
      query: SELECT * FROM iris WHERE '${{oc.env:SOUS_PII_SALT}}' <> ''
models:
  rf: {{_target_: sklearn.ensemble.RandomForestClassifier, n_estimators: 5}}
deploy: {{enabled: false}}
cluster: {{kind: sync}}
"""


@pytest.fixture
def recipe_with_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from sklearn.datasets import load_iris

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", SALT)
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    db = tmp_path / "iris.db"
    with sqlite3.connect(db) as con:
        frame.to_sql("iris", con, index=False)
    path = tmp_path / "secrets.yaml"
    path.write_text(RECIPE.format(url=f"sqlite:///{db}"), encoding="utf-8")
    return path


def assert_no_secret(home: Path, shown: str, *secrets: str) -> None:
    stored = list(home.rglob("runs.db*"))
    assert stored, "no runs database written"
    for path in stored:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, path
    for secret in secrets:
        assert secret not in shown


def test_run_record_holds_no_secret(
    recipe_with_secrets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(recipe_with_secrets), "--executor", "sync"]) == 0
    capsys.readouterr()
    assert main(["runs", "last", "--json"]) == 0
    shown = capsys.readouterr().out
    assert_no_secret(tmp_path / "home", shown, SALT)
    source = json.loads(shown)["config"]["data"]["sources"]["iris"]
    assert "${oc.env:SOUS_PII_SALT}" in source["query"]
    validated = tmp_path / "home" / "validated"
    assert not validated.exists() or not any(validated.iterdir())  # no memo of a secret


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"postgresql+psycopg://sous:{PASSWORD}@db.example:5432/crm", id="literal"),
        pytest.param("postgresql+psycopg://sous:${oc.env:PGPASSWORD}@db.example/crm", id="env"),
    ],
)
def test_url_password_is_not_recorded(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine import api
    from engine.home import db_url
    from engine.run.results import start_record
    from engine.store.runs import RunsDB

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", SALT)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    path = tmp_path / "pg.yaml"
    path.write_text(RECIPE.format(url=url), encoding="utf-8")
    spec = api.validate(str(path))
    assert PASSWORD in spec.data.sources[0].options["url"]  # the run connects with it
    RunsDB(db_url()).start(start_record(spec, "r-1", str(tmp_path / "log")).to_json())
    assert main(["runs", "show", "r-1", "--json"]) == 0
    shown = capsys.readouterr().out
    assert_no_secret(tmp_path / "home", shown, PASSWORD, SALT)
    recorded = json.loads(shown)["config"]["data"]["sources"]["iris"]["url"]
    assert recorded in (url.replace(PASSWORD, "***"), url)  # masked, or the ${oc.env:...}


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("SOUS_TEST_PG_URL"),
    reason='SOUS_TEST_PG_URL is not set; run: eval "$(scripts/start_postgres.sh)"',
)
def test_postgres_run_records_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real run against PostgreSQL (it trusts local connections: any password works)."""
    import pandas as pd
    import sqlalchemy
    from sklearn.datasets import load_iris

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", SALT)
    url = sqlalchemy.engine.make_url(os.environ["SOUS_TEST_PG_URL"]).set(password=PASSWORD)
    table = f"iris_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(url)
    frame = pd.DataFrame(load_iris(as_frame=True).frame)
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    with engine.begin() as conn:
        frame.to_sql(table, conn, index=False)
    try:
        text = RECIPE.format(url=url.render_as_string(hide_password=False)).replace(
            "FROM iris", f'FROM "{table}"'
        )
        path = tmp_path / "pg.yaml"
        path.write_text(text, encoding="utf-8")
        assert main(["run", str(path), "--executor", "sync"]) == 0
        capsys.readouterr()
        assert main(["runs", "last", "--json"]) == 0
        assert_no_secret(tmp_path / "home", capsys.readouterr().out, PASSWORD, SALT)
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'drop table if exists "{table}"'))
        engine.dispose()


def test_secrets_still_change_cache_keys(
    recipe_with_secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redaction feeds no key: the load step's key follows the real password and salt."""
    from engine import api
    from engine.specs import thaw

    def load_keys() -> tuple[set[str], dict[str, object]]:
        spec = api.validate(str(recipe_with_secrets))
        plan, _ = api.plan(spec)
        keys = {k for k, n in plan.nodes.items() if n.step.startswith("load")}
        return keys, thaw(spec.resolved)

    first, resolved = load_keys()
    monkeypatch.setenv("SOUS_PII_SALT", SALT + "-rotated")
    second, resolved_again = load_keys()
    assert resolved == resolved_again  # the record cannot tell them apart...
    assert first and first != second  # ...the cache can
