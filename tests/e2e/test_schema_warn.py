"""``schema.on_failure: warn`` keeps every row and reports what failed: in the run record
(``data.failed_checks``, ``data.failures_path``) and in the run's summary (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd

from engine import api

ROOT = Path(__file__).resolve().parents[2]
RECIPE = """
name: warned
task: classification
target: y
data:
  sources:
    rows: {{kind: csv, path: {csv}}}
schema:
  on_failure: warn
  columns:
    age: {{checks: {{ge: 0}}}}
    city: {{checks: {{isin: [oslo, rome]}}}}
models:
  logreg: {{_target_: sklearn.linear_model.LogisticRegression}}
deploy: {{enabled: false}}
cluster: {{kind: sync}}
"""


def test_warn_keeps_rows_and_reports_the_failures(sous_home: Path, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "city": rng.choice(["oslo", "rome"], n),
            "y": rng.integers(0, 2, n),
        }
    )
    frame.loc[[3, 10, 50], "age"] = -1
    frame.loc[[7], "city"] = "paris"
    frame.to_csv(tmp_path / "rows.csv", index=False)
    recipe = tmp_path / "warned.yaml"
    recipe.write_text(RECIPE.format(csv=tmp_path / "rows.csv"))

    record = api.run(api.validate(str(recipe)))
    data = record["data"]
    assert data["rows_out"] == n and data["quarantined"] == 0  # warn keeps every row
    assert sorted(data["failed_checks"], key=lambda f: f["column"]) == [
        {"column": "age", "check": "ge(0)", "rows": 3},
        {"column": "city", "check": "isin(['oslo', 'rome'])", "rows": 1},
    ]
    table = pd.read_parquet(data["failures_path"])
    assert sorted(table["row"]) == [3, 7, 10, 50]
    schema = json.loads((ROOT / "docs" / "run-record.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(record)
    err = capsys.readouterr().err
    assert "schema: rows failed age:ge(0) (3 rows)" in err and data["failures_path"] in err
