"""Peer (b): a Hydra app; `-m` over the grid runs the 24 jobs one after another (basic launcher).

Each job cross-validates one configuration and appends its score to a JSON-lines file.
"""

from __future__ import annotations

import json
import os

import hydra
from grid_common import estimator, load, splitter
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> float:
    from sklearn.model_selection import cross_val_score

    X, y = load()
    params = {
        "n_estimators": cfg.n_estimators,
        "max_depth": cfg.max_depth,
        "min_samples_leaf": cfg.min_samples_leaf,
    }
    score = float(
        cross_val_score(estimator(params), X, y, cv=splitter(), scoring="accuracy").mean()
    )
    with open(os.environ["SOUS_BENCH_OUT"], "a") as f:
        f.write(json.dumps({"params": params, "score": score}) + "\n")
    return score


if __name__ == "__main__":
    main()
