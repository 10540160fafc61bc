"""The sql source against a real PostgreSQL server (started by scripts/start_postgres.sh,
which .ci/run calls). Skipped, with the reason, when SOUS_TEST_PG_URL is not set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engine.data.sources import read_source
from engine.errors import SourceError
from engine.specs import SourceSpec, frozen_map
from engine.steps.data import fingerprint, load

PG_URL = os.environ.get("SOUS_TEST_PG_URL")
needs_pg = pytest.mark.skipif(
    not PG_URL, reason='SOUS_TEST_PG_URL is not set; run: eval "$(scripts/start_postgres.sh)"'
)


def sql(**options: Any) -> SourceSpec:
    return SourceSpec("crm", "sql", frozen_map(options))


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "pg-test-salt")


@pytest.fixture
def table() -> Iterator[str]:
    """A fresh table with a few customers; dropped afterwards."""
    import sqlalchemy

    name = f"customers_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(str(PG_URL))
    frame = pd.DataFrame(
        {"id": [1, 2, 3], "email": ["a@x.io", "b@x.io", "c@x.io"], "spend": [10.5, 20.0, 30.25]}
    )
    with engine.begin() as conn:
        frame.to_sql(name, conn, index=False)
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'drop table if exists "{name}"'))
        engine.dispose()


@pytest.mark.postgres
@needs_pg
def test_query_and_table_read_the_same_rows(table: str) -> None:
    by_query = read_source(sql(url=PG_URL, query=f'select * from "{table}" order by id'))
    by_table = read_source(sql(url=PG_URL, table=table)).sort_values("id").reset_index(drop=True)
    assert by_query["spend"].tolist() == [10.5, 20.0, 30.25]
    pd.testing.assert_frame_equal(by_query, by_table)


@pytest.mark.postgres
@needs_pg
def test_load_masks_pii_from_postgres(table: str) -> None:
    out = load(sql(url=PG_URL, table=table), pii={"email": "hash"}, salt_env="SOUS_PII_SALT")
    assert not out["email"].str.contains("@").any()


@pytest.mark.postgres
@needs_pg
def test_fingerprint_changes_with_the_table_content(table: str) -> None:
    import sqlalchemy

    spec = sql(url=PG_URL, query=f'select * from "{table}" order by id')
    before = fingerprint(spec)
    assert fingerprint(spec) == before
    engine = sqlalchemy.create_engine(str(PG_URL))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'update "{table}" set spend = spend + 1 where id = 2'))
    engine.dispose()
    assert fingerprint(spec) != before


def test_unreachable_server_is_retried_then_names_the_source() -> None:
    pytest.importorskip("psycopg")
    spec = SourceSpec(
        "warehouse",
        "sql",
        frozen_map(
            {
                "url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                "query": "select 1",
                "retries": 2,
                "retry_backoff": 0.01,
            }
        ),
    )
    with pytest.raises(SourceError) as err:
        read_source(spec)
    assert err.value.source == "warehouse"
    assert "after 3 attempts" in str(err.value)
    assert "OperationalError" in str(err.value)
