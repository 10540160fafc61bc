"""Shared set-up for the serving integration tests: a temporary SOUS_HOME and iris models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])


@contextmanager
def sous_home(path: Path, **env: str) -> Iterator[Path]:
    """SOUS_HOME (and extra env) for a whole test module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOUS_HOME", str(path))
        mp.setenv("BENTOML_DO_NOT_TRACK", "True")
        for k, v in env.items():
            mp.setenv(k, v)
        yield path


def iris_data() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True, as_frame=True)
    return x, IRIS_NAMES[y]


def iris_pipeline(c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = iris_data()
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)).fit(x, y)


def package_iris(name: str = "iris", c: float = 1.0, **deploy_kw: Any) -> Any:
    from engine.serving import FeatureField, package
    from engine.specs import BentoSpec, DeploySpec

    x, _ = iris_data()
    est = iris_pipeline(c)
    batching = deploy_kw.pop("batching", {"max_batch_size": 32, "max_latency_ms": 10_000})
    pii = deploy_kw.pop("pii", None)
    return est, package(
        name=name,
        estimator=est,
        task="classification",
        features=[FeatureField(col, "float", nullable=False) for col in x.columns],
        classes=list(est.classes_),
        metrics={"f1": 0.97, "accuracy": 0.97},
        labels={
            "recipe": name,
            "run_id": f"run-{c}",
            "recipe_hash": "abc",
            "data_fingerprint": "fp",
            "gate": "passed",
        },
        deploy=DeploySpec(bento=BentoSpec(name=name, batching=batching), **deploy_kw),
        pii=pii,
    )


def rows(n: int = 10) -> list[dict[str, float]]:
    x, _ = iris_data()
    sample = x.sample(n, random_state=0) if n < len(x) else x
    return [{k: float(v) for k, v in r.items()} for r in sample.to_dict("records")]
