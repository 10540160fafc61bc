"""What the peers share: the 24-configuration grid, the data subset, the CV splitter."""

from __future__ import annotations

import itertools
import os

import numpy as np

GRIDS: dict[str, dict[str, list[object]]] = {
    # the usual grid: two forest sizes, so Sous grows the 12-tree forests from the 6-tree ones
    "growing": {
        "n_estimators": [6, 12],
        "max_depth": [4, 8, 12, None],
        "min_samples_leaf": [1, 4, 16],
    },
    # no growth possible: n_estimators fixed, depth x leaf size (the engine's own overhead)
    "nogrowth": {
        "n_estimators": [16],
        "max_depth": [6, 10, 14, None],
        "min_samples_leaf": [1, 2, 4, 8, 16, 32],
    },
    # cheap fits: tiny forests on small data, where Dask's cost per task is most of a fit's
    # (what packing is for: engine/execution/packing.py)
    "cheap": {
        "n_estimators": [4],
        "max_depth": [2, 3, 4, 6, 8, None],
        "min_samples_leaf": [1, 2, 4, 8, 16, 32, 64, 128],
    },
}
# which grid the peers run (set by bench_sweep.py for each part)
GRID = GRIDS[os.environ.get("SOUS_BENCH_GRID", "growing")]
SEED = 0
FOLDS = 5


def configs() -> list[dict[str, object]]:
    keys = list(GRID)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*GRID.values())]


def load() -> tuple[np.ndarray, np.ndarray]:
    """The rows Sous cross-validates on (its train+valid split), written by the benchmark."""
    data = np.load(os.environ["SOUS_BENCH_NPZ"])
    return data["X"], data["y"]


def splitter():
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)


def estimator(params: dict[str, object]):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(random_state=SEED, n_jobs=1, **params)  # type: ignore[arg-type]
