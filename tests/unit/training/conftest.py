"""Small frames for the training tests; SOUS_HOME in a temp dir so nothing touches the repo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _sous_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "sous"))


def make_frame(n: int = 300, *, classes: int = 2, seed: int = 0, rare: float | None = None):
    """Numeric + categorical features with signal, a class target ``y`` and a numeric
    target ``amount``; ``rare`` sets the positive share of a binary target."""
    from sklearn.datasets import make_classification

    weights = None if rare is None else [1 - rare]
    x, y = make_classification(
        n_samples=n,
        n_features=5,
        n_informative=3,
        n_redundant=0,
        n_classes=classes,
        n_clusters_per_class=1,
        weights=weights,
        random_state=seed,
        flip_y=0.02,
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    rng = np.random.default_rng(seed)
    frame["color"] = np.where(x[:, 0] + rng.normal(0, 1, n) > 0, "red", "blue")
    frame["store"] = rng.integers(0, 12, n)
    frame["day"] = np.arange(n)[::-1]  # time runs against row order
    frame["amount"] = 3 * x[:, 1] - x[:, 2] + rng.normal(0, 0.3, n)
    frame["y"] = y
    return frame


@pytest.fixture
def frame():
    return make_frame()


@pytest.fixture
def frame_factory():
    return make_frame
