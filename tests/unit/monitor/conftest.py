"""Fixtures for monitoring: a private SOUS_HOME, a reference, and request logs written the
way the server writes them (``RequestLog``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "sous_home"))


@pytest.fixture
def train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 4000
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(),
            "income": rng.lognormal(10, 0.5, n),
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
            "active": rng.random(n) < 0.7,
            "email": [f"person{i}@example.org" for i in range(n)],
        }
    )


FEATURES = ["age", "income", "plan", "active"]


@pytest.fixture
def reference(train: pd.DataFrame) -> Any:
    from engine.drift.reference import build_reference
    from engine.specs import ColumnSpec, SchemaSpec, frozen_map

    schema = SchemaSpec(
        columns=(
            ColumnSpec("age", nullable=False, checks=frozen_map({"ge": 0, "le": 120})),
            ColumnSpec("plan", checks=frozen_map({"isin": ["basic", "pro", "team"]})),
        )
    )
    preds = np.where(train["plan"] == "basic", "stay", "churn")
    return build_reference(
        train, FEATURES, preds, {"accuracy": 0.9, "f1": 0.8}, schema,
        task="classification", classes=["churn", "stay"],
    )  # fmt: skip


@pytest.fixture
def write_log(tmp_path: Path) -> Callable[..., Path]:
    """Log ``frame``'s rows as served traffic of ``version`` (one parquet file per call)."""
    from engine.serving.runtime.reqlog import RequestLog

    directory = tmp_path / "requests"

    def write(frame: pd.DataFrame, version: str = "v1", role: str = "served", **kw: Any) -> Path:
        log = RequestLog(directory)
        records = frame[FEATURES].to_dict("records")
        preds = kw.pop("preds", None)
        if preds is None:
            preds = np.where(frame["plan"] == "basic", "stay", "churn")
        out = [
            {"prediction": p, "probabilities": None, "request_id": f"{version}-{role}-{i}"}
            for i, p in enumerate(preds)
        ]
        log.write(
            records,
            out,
            endpoint="predict_batch",
            role=role,
            variant=kw.get("variant", "champion"),
            version=version,
            latency_ms=kw.get("latency_ms", 4.0),
        )
        log.flush()
        return directory

    return write
