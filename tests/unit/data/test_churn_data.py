"""The churn recipe's data half: its committed data is what the generator makes, and its
sources, integration, PII and quarantine behave as the recipe says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.steps.data import integrate, load, validate

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "recipes" / "data" / "churn"


def test_generator_is_deterministic_and_matches_the_committed_data(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(DATA / "make_data.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "customers.csv").read_bytes() == (DATA / "customers.csv").read_bytes()
    import pandas as pd

    for part in ("part-0.parquet", "part-1.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "events" / part), pd.read_parquet(DATA / "events" / part)
        )


def test_churn_recipe_data_steps() -> None:
    recipe = pytest.importorskip("engine.recipe")
    spec = recipe.load_recipe(str(ROOT / "recipes" / "churn.yaml"))
    data = spec.data
    frames = {s.name: load(s, pii=data.pii, salt_env=data.pii_salt_env) for s in data.sources}
    assert "name" not in frames["customers"].columns
    assert frames["customers"]["email"].str.len().eq(64).all()
    joined = integrate(frames, data)
    assert [s.op for s in joined.stats] == ["join:plans", "asof:events", "dedupe"]
    assert all(s.rows_in == s.rows_out == 2000 for s in joined.stats)
    assert "plan_code" not in joined.frame.columns and "monthly_charges" in joined.frame.columns
    checked = validate(joined.frame, spec.schema, target=spec.target)
    reasons = checked.quarantine["_failed_checks"].value_counts().to_dict()
    assert reasons == {
        "age:ge(0)": 6,
        "plan:isin(['basic', 'pro', 'enterprise'])": 6,
        "churned:target is null": 6,
    }
    assert len(checked.frame) == 2000 - 18
    assert checked.frame["churned"].dtype == "int64"
