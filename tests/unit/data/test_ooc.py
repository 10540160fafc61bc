"""Out-of-core ingest: partition by partition, failures from ALL partitions, global row ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engine.data.ooc import ingest_partitioned, row_local_transform
from engine.errors import DataValidationError, UserError
from engine.specs import ColumnSpec, DataSpec, IntegrateSpec, SchemaSpec, SourceSpec, frozen_map

ROWS = 3000
BAD_AGE_ROWS = [5, 1400, 2990]  # three partitions at the block size used below


@pytest.fixture
def csv(tmp_path: Path) -> SourceSpec:
    frame = pd.DataFrame(
        {
            "id": range(ROWS),
            "age": [30 + i % 40 for i in range(ROWS)],
            "email": [f"user{i}@example.com" for i in range(ROWS)],
            "y": [i % 2 for i in range(ROWS)],
        }
    )
    frame.loc[BAD_AGE_ROWS, "age"] = -1
    frame.loc[[700], "y"] = None
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    return SourceSpec("big", "csv", frozen_map({"path": str(path)}))


def schema(on_failure: str = "quarantine", **kw: Any) -> SchemaSpec:
    cols = (ColumnSpec("age", checks=frozen_map({"ge": 0})), ColumnSpec("id", unique=True))
    return SchemaSpec(on_failure=on_failure, columns=cols, **kw)  # type: ignore[arg-type]


def run(source: SourceSpec, spec: SchemaSpec, out: Path, blocksize: int = 25_000, **kw: Any):  # type: ignore[no-untyped-def]
    return ingest_partitioned(source, spec, target="y", out_dir=out, blocksize=blocksize, **kw)


def test_bad_rows_in_several_partitions_are_all_quarantined(
    csv: SourceSpec, tmp_path: Path
) -> None:
    res = run(csv, schema(), tmp_path / "out", pii={"email": "hash"})
    assert res.partitions >= 3
    assert (res.rows_in, res.rows_good, res.rows_quarantined) == (ROWS, ROWS - 4, 4)
    quarantine = pd.read_parquet(res.quarantine_dir)
    assert sorted(quarantine["id"]) == sorted([*BAD_AGE_ROWS, 700])
    assert len(list(Path(res.quarantine_dir).glob("*.parquet"))) >= 3  # from several partitions
    failures = pd.read_parquet(res.failures_dir)
    assert sorted(failures["row"].dropna().astype(int)) == sorted(
        [*BAD_AGE_ROWS, 700]
    )  # global ids
    good = pd.read_parquet(res.good_dir)
    assert len(good) == ROWS - 4 and (good["age"] >= 0).all()
    assert not good["email"].str.contains("@").any()
    assert not quarantine["email"].str.contains("@").any()


def test_fail_collects_failures_of_all_partitions_then_stops(
    csv: SourceSpec, tmp_path: Path
) -> None:
    with pytest.raises(DataValidationError) as err:
        run(csv, schema("fail", max_examples=10), tmp_path / "out")
    (age,) = [f for f in err.value.failures if f.check == "ge(0)"]
    assert age.failed_rows == 3
    assert [e.split(":")[0] for e in age.examples] == [f"row {r}" for r in BAD_AGE_ROWS]
    assert not (tmp_path / "out" / "good").exists()
    assert err.value.report_path == str(tmp_path / "out" / "failures")


def test_uniqueness_is_checked_across_partitions(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [*range(2000), 3, 1500], "age": [1] * 2002, "y": [0] * 2002})
    frame.to_csv(tmp_path / "d.csv", index=False)
    source = SourceSpec("d", "csv", frozen_map({"path": str(tmp_path / "d.csv")}))
    res = run(source, schema(), tmp_path / "out", blocksize=5_000)
    assert res.partitions >= 2
    quarantine = pd.read_parquet(res.quarantine_dir)
    assert sorted(quarantine.index) == [2000, 2001]
    assert set(quarantine["_failed_checks"]) == {"id:unique"}


@pytest.mark.parametrize(
    ("checks", "policy", "raises"),
    [
        pytest.param({"min_rows": 10_000}, "quarantine", True, id="min-rows-total"),
        pytest.param({"max_rows": 100}, "quarantine", True, id="max-rows-total"),
        pytest.param({"min_rows": 10_000}, "warn", False, id="min-rows-warn"),
        pytest.param({"min_rows": 2000, "max_rows": 3000}, "quarantine", False, id="bounds-ok"),
    ],
)
def test_row_bounds_apply_to_the_total(
    csv: SourceSpec, tmp_path: Path, checks: dict[str, int], policy: str, raises: bool
) -> None:
    spec = schema(policy, checks=frozen_map(checks))
    if raises:
        with pytest.raises(DataValidationError):
            run(csv, spec, tmp_path / "out")
    else:
        assert run(csv, spec, tmp_path / "out").partitions >= 3


def test_row_local_transform_broadcast_join_rename_cast(csv: SourceSpec, tmp_path: Path) -> None:
    lookup = pd.DataFrame({"parity": [0, 1], "label": ["even", "odd"]})
    data = DataSpec(
        sources=(csv, SourceSpec("lookup", "csv")),
        integrate=(
            IntegrateSpec("join", "lookup", frozen_map({"left_on": "y", "right_on": "parity"})),
        ),
        rename=frozen_map({"label": "kind"}),
        cast=frozen_map({"age": "float64"}),
    )
    res = run(
        csv, schema(), tmp_path / "out", transform=row_local_transform(data, {"lookup": lookup})
    )
    good = pd.read_parquet(res.good_dir)
    assert set(good["kind"]) == {"even", "odd"}
    assert good["age"].dtype == "float64"


def test_whole_dataset_ops_and_kinds_are_refused(csv: SourceSpec, tmp_path: Path) -> None:
    data = DataSpec(sources=(csv,), integrate=(IntegrateSpec("union", "other"),))
    with pytest.raises(UserError) as err:
        row_local_transform(data, {})
    assert err.value.key_path == "data.integrate[0]"
    with pytest.raises(UserError) as err:
        ingest_partitioned(SourceSpec("s", "sql"), schema(), target="y", out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()
    assert err.value.key_path == "data.sources.s.kind"
