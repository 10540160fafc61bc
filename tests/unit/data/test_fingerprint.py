"""Fingerprints: content decides, timestamps never do."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from engine.data import fingerprint as fp
from engine.errors import SourceError
from engine.specs import SourceSpec, frozen_map
from engine.steps.data import fingerprint


def src(kind: str, **options: object) -> SourceSpec:
    return SourceSpec("s", kind, frozen_map(options))


@pytest.fixture
def csv_dir(tmp_path: Path) -> Path:
    d = tmp_path / "csv"
    d.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_csv(d / "one.csv", index=False)
    pd.DataFrame({"a": [3, 4]}).to_csv(d / "two.csv", index=False)
    return d


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("one.csv", id="file"),
        pytest.param("*.csv", id="glob"),
        pytest.param("", id="directory"),
    ],
)
def test_touch_keeps_and_content_change_breaks_the_fingerprint(csv_dir: Path, path: str) -> None:
    spec = src("csv", path=str(csv_dir / path) if path else str(csv_dir))
    before = fingerprint(spec)
    st = os.stat(csv_dir / "one.csv")
    os.utime(csv_dir / "one.csv", ns=(st.st_atime_ns + 10**10, st.st_mtime_ns + 10**10))
    assert fingerprint(spec) == before
    (csv_dir / "one.csv").write_text("a\n1\n9\n")  # same size, other content
    assert os.path.getsize(csv_dir / "one.csv") == st.st_size
    assert fingerprint(spec) != before


@pytest.mark.parametrize("replace", [False, True], ids=["edit-in-place", "replace-by-rename"])
def test_an_edit_that_restores_the_mtime_still_changes_the_fingerprint(
    csv_dir: Path, replace: bool
) -> None:
    """`touch -r`, `rsync -t` and checkouts restore mtimes; the memo must not be fooled."""
    import time

    target = csv_dir / "one.csv"
    spec = src("csv", path=str(target))
    before = fingerprint(spec)
    st = os.stat(target)
    time.sleep(0.05)  # past the filesystem's timestamp granularity, so ctime moves
    if replace:
        other = csv_dir / "one.csv.new"
        other.write_text("a\n1\n9\n")
        os.replace(other, target)
    else:
        target.write_text("a\n1\n9\n")  # same size, other content
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # `touch -r`: the mtime restored
    after = os.stat(target)
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert fingerprint(spec) != before


def test_adding_a_file_to_a_glob_changes_the_fingerprint(csv_dir: Path) -> None:
    spec = src("csv", path=str(csv_dir / "*.csv"))
    before = fingerprint(spec)
    pd.DataFrame({"a": [5]}).to_csv(csv_dir / "three.csv", index=False)
    assert fingerprint(spec) != before


def test_memo_avoids_rehashing_unchanged_files(
    csv_dir: Path, sous_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = src("csv", path=str(csv_dir / "*.csv"))
    first = fingerprint(spec)
    assert len(json.loads((sous_home / "fingerprints.json").read_text())) == 2
    calls: list[str] = []
    monkeypatch.setattr(fp, "content_hash", lambda p: calls.append(p) or "x")
    assert fingerprint(spec) == first
    assert calls == []


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        fingerprint(src("csv", path=str(tmp_path / "nope.csv")))
    assert err.value.source == "s"


def test_sql_fingerprint_follows_the_rows_and_the_query(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (a int)")
        conn.execute("insert into t values (1)")
    by_table = src("sql", path=str(db), table="t")
    by_query = src("sql", path=str(db), query="select a from t where a > 0")
    t0, q0 = fingerprint(by_table), fingerprint(by_query)
    assert t0 != q0
    assert fingerprint(by_table) == t0
    with sqlite3.connect(db) as conn:
        conn.execute("update t set a = 2")
    assert fingerprint(by_table) != t0
    assert fingerprint(by_query) != q0


def test_sklearn_fingerprint_is_name_and_version() -> None:
    assert fingerprint(src("sklearn", name="iris")) == fingerprint(src("sklearn", name="iris"))
    assert fingerprint(src("sklearn", name="iris")) != fingerprint(src("sklearn", name="wine"))


def test_retry_options_do_not_change_the_fingerprint(csv_dir: Path) -> None:
    a = fingerprint(src("csv", path=str(csv_dir / "one.csv")))
    b = fingerprint(src("csv", path=str(csv_dir / "one.csv"), retries=5))
    assert a == b
