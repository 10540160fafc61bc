"""A recipe with data.out_of_core: ingested, validated and split partition by partition, bad
rows of several partitions quarantined, then trained on a bounded sample; same on Dask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import api

ROWS = 30_000
BAD = [5, 9_000, 17_000, 29_999]  # negative ages, spread over the partitions

RECIPE = """
name: big
task: classification
target: churned
seed: 3
data:
  sources:
    events: {{kind: csv, path: {events}}}
    plans: {{kind: csv, path: {plans}}}
  integrate:
    - {{join: plans, left_on: plan, right_on: plan_code, how: left}}
  pii: {{email: hash}}
  drop: [email, plan_code]
  out_of_core: {{blocksize: "256KB", sample_rows: 6000}}
schema:
  on_failure: quarantine
  columns:
    age: {{dtype: int64, checks: {{ge: 0}}}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.1}}
models:
  logreg: {{_target_: sklearn.linear_model.LogisticRegression, max_iter: 300}}
deploy: {{enabled: false}}
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    age = rng.integers(18, 80, ROWS)
    age[BAD] = -1
    plan = rng.choice(["basic", "pro"], ROWS)
    frame = pd.DataFrame(
        {
            "email": [f"user{i}@example.com" for i in range(ROWS)],
            "age": age,
            "plan": plan,
            "usage": rng.normal(size=ROWS),
        }
    )
    frame["churned"] = ((frame["usage"] + (plan == "basic")) > 1.0).astype(int)
    frame.to_csv(tmp_path / "events.csv", index=False)
    pd.DataFrame({"plan_code": ["basic", "pro"], "price": [10.0, 30.0]}).to_csv(
        tmp_path / "plans.csv", index=False
    )
    path = tmp_path / "big.yaml"
    path.write_text(RECIPE.format(events=tmp_path / "events.csv", plans=tmp_path / "plans.csv"))
    return path


def test_out_of_core_recipe_on_sync_and_dask(
    recipe: Path, sous_home: Path, tmp_path: Path, monkeypatch
) -> None:
    sync = api.run(api.validate(str(recipe), ["cluster=sync"]))
    data = sync["data"]
    assert data["rows_in"] == ROWS
    assert data["quarantined"] == len(BAD) and data["rows_out"] == ROWS - len(BAD)
    assert data["out_of_core"]["partitions"] > 3
    assert data["out_of_core"]["sample_rows"] == 6000  # exactly sample_rows
    quarantine = pd.concat(
        pd.read_parquet(p) for p in Path(data["quarantine_path"]).glob("*.parquet")
    )
    assert sorted(quarantine["age"]) == [-1] * len(BAD) and "_failed_checks" in quarantine
    assert not quarantine["email"].str.contains("@").any()  # masked before anything was written
    assert sync["winner"]["model"] == "logreg" and sync["test_metrics"]["accuracy"] > 0.6

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "dask-home"))
    dask = api.run(api.validate(str(recipe), ["cluster=local"]))
    assert (
        dask["leaderboard"] == sync["leaderboard"] and dask["test_metrics"] == sync["test_metrics"]
    )

    monkeypatch.setenv("SOUS_HOME", str(sous_home))
    again = api.run(api.validate(str(recipe), ["cluster=sync"]))
    assert all(s["cached"] for s in again["steps"])
