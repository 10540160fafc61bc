"""Forests whose trees come out the same however many threads build them.

Each tree of a random or extra-trees forest draws its seed before any is built, and the
trees are built in threads (``n_jobs``), so the fitted forest does not depend on ``n_jobs``.
The final refit of a run's winner runs alone at the end of the run: it builds its trees on
every core the machine gives the process, then keeps the recipe's ``n_jobs`` for serving.
"""

from __future__ import annotations

import os
from typing import Any

THREAD_EXACT = frozenset(
    {
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
    }
)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def fit_on_cores(estimator: Any, x: Any, y: Any, cores: int) -> Any:
    """``estimator.fit(x, y)``, with a forest's trees built on ``cores`` threads."""
    model = estimator[-1] if hasattr(estimator, "steps") else estimator
    exact = type(model).__module__.startswith("sklearn.") and type(model).__name__ in THREAD_EXACT
    own = model.get_params(deep=False).get("n_jobs") if exact else None
    if not exact or cores <= 1 or (own is not None and own != 1):
        return estimator.fit(x, y)  # not a forest, or the recipe chose its own n_jobs
    model.set_params(n_jobs=min(cores, model.get_params()["n_estimators"]))
    try:
        return estimator.fit(x, y)
    finally:
        model.set_params(n_jobs=own)
