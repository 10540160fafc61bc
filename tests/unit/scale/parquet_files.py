"""Small parquet files of a fixed binary problem, and the reader external-memory XGBoost
streams them with: shared by the unit and cluster tests of engine/models/xgb_external.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write(root: Path, name: str, count: int, *, seed: int, rows: int, width: int) -> list[str]:
    """``count`` files of ``rows`` rows: ``width`` normal features, label x0 + x1*x2 > 0."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        x = rng.normal(size=(rows, width))
        frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(width)])
        frame["y"] = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(float)
        path = root / f"{name}-{i:03d}.parquet"
        frame.to_parquet(path)
        paths.append(str(path))
    return paths


def read(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One file -> (float32 features, float32 labels), as a Sous reader returns them."""
    frame = pd.read_parquet(path)
    return frame.drop(columns="y").to_numpy(np.float32), frame["y"].to_numpy(np.float32)
