"""Issue 11: an out-of-core run's quarantine and failure tables are sealed when encryption
at rest is on (they are for people; the good rows, read back by Dask, stay plain)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from engine.data.ooc import ingest_partitioned
from engine.security import at_rest
from engine.specs import ColumnSpec, SchemaSpec, SourceSpec, frozen_map

MARK = "zqlilac7731"


def test_quarantine_and_failures_are_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(at_rest.KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(at_rest.KEY_ENV, at_rest.keygen())
    frame = pd.DataFrame(
        {"age": [30, -1, 40, 50] * 50, "color": [MARK, MARK, "b", "c"] * 50, "y": [0, 1] * 100}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    source = SourceSpec("d", "csv", frozen_map({"path": str(tmp_path / "d.csv")}))
    spec = SchemaSpec(
        on_failure="quarantine", columns=(ColumnSpec("age", checks=frozen_map({"ge": 0})),)
    )
    res = ingest_partitioned(source, spec, target="y", out_dir=tmp_path / "out")
    assert res.rows_quarantined == 50
    for directory in (res.quarantine_dir, res.failures_dir):
        files = list(Path(directory).glob("*.parquet"))
        assert files
        for f in files:
            raw = f.read_bytes()
            assert at_rest.is_sealed(raw) and MARK.encode() not in raw
    (q,) = Path(res.quarantine_dir).glob("*.parquet")
    table = pd.read_parquet(io.BytesIO(at_rest.read_sealed(q)))
    assert set(table["color"]) == {MARK}
    assert len(pd.read_parquet(res.good_dir)) == 150  # plain: Dask reads it back
