"""Trials that grow one another: a forest of 12 trees is a forest of 6 trees plus 6 more.

For the ensembles below, scikit-learn guarantees that ``warm_start`` continues a fit exactly
as a fresh fit of the larger size would have gone (each member draws its seed from the same
sequence; the warm start skips the seeds already used). So a sweep over ``n_estimators``
need not fit the common members again: the larger trial copies the smaller one's fitted
model per fold and adds the missing members. Scores are bit-identical to fresh fits
(``tests/unit/training/test_growth.py`` checks every estimator listed here).

Pure lookups over import paths and params: nothing heavy is imported here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from engine.models.build import trial_params
from engine.specs import ModelSpec

# import path -> the parameter that only adds members (checked exact by the tests)
GROWABLE: Mapping[str, str] = {
    "sklearn.ensemble.RandomForestClassifier": "n_estimators",
    "sklearn.ensemble.RandomForestRegressor": "n_estimators",
    "sklearn.ensemble.ExtraTreesClassifier": "n_estimators",
    "sklearn.ensemble.ExtraTreesRegressor": "n_estimators",
    "sklearn.ensemble.BaggingClassifier": "n_estimators",
    "sklearn.ensemble.BaggingRegressor": "n_estimators",
    "sklearn.ensemble.GradientBoostingClassifier": "n_estimators",
    "sklearn.ensemble.GradientBoostingRegressor": "n_estimators",
}
# params under which a warm start is no longer the same as a fresh fit
_BREAKS_GROWTH = {"warm_start": (None, False), "n_iter_no_change": (None,)}


def growth_param(model: ModelSpec) -> str | None:
    """The parameter along which ``model``'s trials can grow one another, if any."""
    if model.kind != "sklearn" or not model.target:
        return None
    return GROWABLE.get(model.target)


def lineage(model: ModelSpec, trials: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """``{child: parent}`` over trial indices: the parent is the trial with the same params
    but the next smaller member count, which the child grows from. Trials that set a param
    breaking the equivalence (or whose count is not a plain int) have no lineage."""
    param = growth_param(model)
    if param is None:
        return {}
    by_rest: dict[str, list[tuple[int, int]]] = {}
    for t, params in enumerate(trials):
        merged = trial_params(model, params)
        size = merged.get(param)
        if not isinstance(size, int) or not _growable(merged, size):
            continue
        rest = repr(sorted((k, repr(v)) for k, v in merged.items() if k != param))
        by_rest.setdefault(rest, []).append((size, t))
    links: dict[int, int] = {}
    for members in by_rest.values():
        members.sort()
        for (small, parent), (large, child) in itertools.pairwise(members):
            if large > small:
                links[child] = parent
    return links


def _growable(merged: Mapping[str, Any], size: int) -> bool:
    if isinstance(size, bool) or size < 1:
        return False
    return all(merged.get(name) in allowed for name, allowed in _BREAKS_GROWTH.items())


def grow(fitted: Any, model: ModelSpec, params: Mapping[str, Any], x: Any, y: Any) -> Any:
    """A copy of the fitted Pipeline ``fitted`` with its model grown to the member count of
    trial ``params`` on the same rows. The copy leaves ``fitted`` untouched (it may feed
    other trials)."""
    import copy

    param = growth_param(model)
    if param is None:
        raise ValueError(f"models.{model.name}: {model.target} does not grow by warm start")
    est = copy.deepcopy(fitted)
    last = est[-1] if hasattr(est, "steps") else est
    last.set_params(warm_start=True, **{param: trial_params(model, params)[param]})
    est.fit(x, y)
    last.set_params(warm_start=False)
    return est
