"""Sources: every built-in kind, the registry, option checks and the retry loop."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engine.data.sources import (
    SourceKind,
    SourceRegistry,
    builtin_sources,
    load_entry_points,
    read_source,
)
from engine.errors import SourceError, UserError
from engine.specs import SourceSpec, frozen_map


def spec(kind: str, source_name: str = "src", **options: Any) -> SourceSpec:
    return SourceSpec(name=source_name, kind=kind, options=frozen_map(options))


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [1, 2, 3, 4], "year": [2023, 2023, 2024, 2024], "x": [0.5, 1.5, 2.5, 3.5]}
    )


def test_csv_glob_concatenates_in_path_order(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.iloc[:2].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[2:].to_csv(tmp_path / "b.csv", index=False)
    out = read_source(spec("csv", path=str(tmp_path / "*.csv")))
    assert out["id"].tolist() == [1, 2, 3, 4]


def test_csv_columns_and_parse_dates(tmp_path: Path) -> None:
    pd.DataFrame({"ts": ["2024-01-01", "2024-01-02"], "a": [1, 2], "b": [3, 4]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    out = read_source(
        spec("csv", path=str(tmp_path / "t.csv"), columns=["ts", "a"], parse_dates=["ts"])
    )
    assert list(out.columns) == ["ts", "a"]
    assert pd.api.types.is_datetime64_any_dtype(out["ts"])


def test_parquet_glob(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.iloc[:2].to_parquet(tmp_path / "p1.parquet")
    frame.iloc[2:].to_parquet(tmp_path / "p2.parquet")
    out = read_source(spec("parquet", path=str(tmp_path / "*.parquet")))
    assert len(out) == 4


def test_parquet_partitioned_dir_pushes_down_columns_and_filters(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    frame.to_parquet(tmp_path / "ds", partition_cols=["year"])
    out = read_source(
        spec(
            "parquet",
            path=str(tmp_path / "ds"),
            columns=["id", "year"],
            filters=[["year", "=", 2024]],
        )
    )
    assert list(out.columns) == ["id", "year"]
    assert sorted(out["id"].tolist()) == [3, 4]


def test_parquet_or_of_and_filters(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(tmp_path / "f.parquet")
    filters = [[["id", "=", 1]], [["x", ">", 3.0]]]
    out = read_source(spec("parquet", path=str(tmp_path / "f.parquet"), filters=filters))
    assert sorted(out["id"].tolist()) == [1, 4]


def test_json_lines_default_and_document(tmp_path: Path) -> None:
    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    (tmp_path / "l.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "d.json").write_text(json.dumps(rows))
    assert read_source(spec("json", path=str(tmp_path / "l.jsonl")))["a"].tolist() == [1, 2]
    doc = read_source(spec("json", path=str(tmp_path / "d.json"), lines=False))
    assert doc["b"].tolist() == ["x", "y"]


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table plans (plan_id text, price real)")
        conn.executemany("insert into plans values (?, ?)", [("basic", 9.0), ("pro", 29.0)])
    return db


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"query": "select * from plans order by plan_id"}, id="query"),
        pytest.param({"table": "plans"}, id="table"),
        pytest.param({"table": "plans", "columns": ["plan_id"]}, id="table-columns"),
    ],
)
def test_sql_sqlite(crm: Path, options: dict[str, Any]) -> None:
    by_url = read_source(spec("sql", url=f"sqlite:///{crm}", **options))
    by_path = read_source(spec("sql", path=str(crm), **options))
    assert sorted(by_url["plan_id"]) == ["basic", "pro"]
    pd.testing.assert_frame_equal(by_url, by_path)


def test_sql_missing_sqlite_file_is_an_error_not_an_empty_db(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source(spec("sql", path=str(tmp_path / "nope.db"), table="t", retries=0))
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize(
    ("name", "target_kind"),
    [
        pytest.param("iris", "i", id="iris"),
        pytest.param("wine", "i", id="wine"),
        pytest.param("breast_cancer", "i", id="breast_cancer"),
        pytest.param("diabetes", "f", id="diabetes"),
    ],
)
def test_sklearn_datasets(name: str, target_kind: str) -> None:
    out = read_source(spec("sklearn", name=name))
    assert "target" in out.columns
    assert out["target"].dtype.kind == target_kind
    assert len(out.columns) > 2


@pytest.mark.parametrize(
    ("source", "key_path", "hint"),
    [
        pytest.param(spec("cvs", path="x"), "data.sources.src.kind", "'csv'", id="unknown-kind"),
        pytest.param(
            spec("csv", path="x", colums=["a"]),
            "data.sources.src.colums",
            "'columns'",
            id="bad-opt",
        ),
        pytest.param(spec("csv"), "data.sources.src.path", "path", id="missing-path"),
        pytest.param(
            spec("sql", url="sqlite://"), "data.sources.src.query", "query", id="sql-no-query"
        ),
        pytest.param(spec("sklearn", name="irs"), None, "'iris'", id="bad-dataset"),
    ],
)
def test_bad_source_specs_are_user_errors(
    source: SourceSpec, key_path: str | None, hint: str
) -> None:
    with pytest.raises(UserError) as err:
        read_source(source)
    if key_path:
        assert err.value.key_path == key_path
    assert hint in str(err.value.hint)


class Flaky:
    """A reader that raises ``exc`` ``failures`` times, then returns a frame."""

    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures, self.exc, self.calls = failures, exc, 0

    def __call__(self, options: Mapping[str, Any]) -> pd.DataFrame:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return pd.DataFrame({"a": [1, 2]})


def _operational_error() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("select 1", {}, Exception("connection refused"))


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ConnectionResetError("reset"), id="oserror"),
        pytest.param(TimeoutError("slow"), id="timeout"),
        pytest.param(_operational_error(), id="sqlalchemy-operational"),
    ],
)
def test_source_fails_twice_then_succeeds(exc: Exception) -> None:
    reader = Flaky(2, exc)
    registry = SourceRegistry([SourceKind("flaky", reader)])
    sleeps: list[float] = []
    out = read_source(spec("flaky", retry_backoff=0.1), registry, sleep=sleeps.append)
    assert reader.calls == 3
    assert len(out) == 2
    assert sleeps == [0.1, 0.2]  # exponential backoff


def test_retries_exhausted_raise_source_error_naming_the_source() -> None:
    reader = Flaky(10, ConnectionResetError("reset"))
    registry = SourceRegistry([SourceKind("flaky", reader)])
    with pytest.raises(SourceError) as err:
        read_source(spec("flaky", source_name="events", retries=2), registry, sleep=lambda s: None)
    assert err.value.source == "events"
    assert "after 3 attempts" in str(err.value)
    assert reader.calls == 3


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(FileNotFoundError("gone"), id="missing-file"),
        pytest.param(ValueError("bad bytes"), id="parse-error"),
    ],
)
def test_permanent_errors_are_not_retried(exc: Exception) -> None:
    reader = Flaky(1, exc)
    registry = SourceRegistry([SourceKind("flaky", reader)])
    with pytest.raises(SourceError):
        read_source(spec("flaky"), registry, sleep=lambda s: None)
    assert reader.calls == 1


def test_reader_must_return_a_dataframe() -> None:
    registry = SourceRegistry()
    registry.register("bad", lambda options: [1, 2])
    with pytest.raises(SourceError, match="expected a DataFrame"):
        read_source(spec("bad"), registry)


def test_user_source_gets_its_options_without_retry_keys() -> None:
    seen: dict[str, Any] = {}

    def reader(options: Mapping[str, Any]) -> pd.DataFrame:
        seen.update(options)
        return pd.DataFrame({"n": [options["n"]]})

    registry = SourceRegistry()
    registry.register("const", reader, options=["n"])
    out = read_source(spec("const", n=5, retries=1), registry)
    assert out["n"].tolist() == [5]
    assert seen == {"n": 5}


class _EP:
    def __init__(self, name: str, obj: object) -> None:
        self.name, self.obj, self.value = name, obj, f"pkg:{name}"

    def load(self) -> object:
        return self.obj


def test_entry_points_fill_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    kind = SourceKind("fancy", lambda o: pd.DataFrame({"a": [1]}))
    eps = [_EP("plain", lambda o: pd.DataFrame({"b": [2]})), _EP("fancy", kind)]
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group: eps if group == "sous.sources" else []
    )
    registry = load_entry_points(builtin_sources())
    assert {"plain", "fancy", "csv"} <= set(registry.names())
    assert read_source(spec("plain"), registry)["b"].tolist() == [2]


def test_entry_point_of_wrong_type_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [_EP("junk", 42)])
    with pytest.raises(UserError, match="expected a SourceKind or a callable"):
        load_entry_points(SourceRegistry())


def test_builtins_are_not_registered_at_import_time() -> None:
    assert SourceRegistry().names() == ()
    assert set(builtin_sources().names()) == {"csv", "parquet", "json", "sql", "sklearn"}
