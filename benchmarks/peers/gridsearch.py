"""Peer (c): scikit-learn's GridSearchCV with n_jobs=2 over the same grid, rows and folds."""

from __future__ import annotations

import json

from grid_common import GRID, estimator, load, splitter
from sklearn.model_selection import GridSearchCV


def main() -> None:
    X, y = load()
    search = GridSearchCV(
        estimator({}), GRID, cv=splitter(), scoring="accuracy", n_jobs=2, refit=True
    )
    search.fit(X, y)
    print(json.dumps({"best_params": search.best_params_, "best_score": search.best_score_}))


if __name__ == "__main__":
    main()
