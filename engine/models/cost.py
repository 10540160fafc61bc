"""A fit's relative cost, known before it runs, from its params alone.

A static sweep hands its trials out longest first (``engine/run/driver.py``), so that the
last fits on every worker are short ones and the workers finish together instead of one
waiting for the other's long fit. Only the order depends on this estimate, never a result,
so it needs to rank a model's trials roughly right, not to predict seconds.

Trees: building a level costs about the same whatever the level (every sample still in a
splittable node is scanned), but fewer samples stay splittable as the tree deepens, so the
work grows like the logarithm of the depth reached (measured on a 24-configuration
RandomForest grid: depth 6, 10, 14 and unlimited cost 0.63, 0.83, 0.92 and 1.0 s). An
unlimited tree stops where leaves reach ``min_samples_leaf``: on noisy data about
``1.75 * log2(rows / leaf)`` levels deep (24 levels for 12,800 rows and leaves of 1, 14.6 for
leaves of 32). Boosting and forests multiply that by their number of trees. A model without
tree params costs 1 per fit: its trials keep their recipe order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

NOMINAL_ROWS = 10_000  # the rows a fold trains on are not known when trials are planned
UNLIMITED_DEPTH = 1.75  # levels of an unlimited tree per halving of rows down to a leaf
ROUNDS = ("n_estimators", "max_iter", "num_boost_round", "iterations")
DEPTH = ("max_depth", "depth")
LEAF = ("min_samples_leaf", "min_child_samples", "min_data_in_leaf")
LEAVES = ("max_leaf_nodes", "num_leaves")


def fit_cost(params: Mapping[str, Any], rows: int = NOMINAL_ROWS) -> float:
    """A fit's relative cost from the model's resolved params (its own and the trial's)."""
    if not any(k in params for k in (*ROUNDS, *DEPTH, *LEAF, *LEAVES)):
        return 1.0
    return _number(params, ROUNDS, 1.0) * math.log2(1.0 + tree_depth(params, rows))


def tree_depth(params: Mapping[str, Any], rows: int = NOMINAL_ROWS) -> float:
    """The levels a tree is expected to reach: its depth limit, or where its leaves reach
    their minimum size, or its leaf budget, whichever comes first."""
    leaf = _number(params, LEAF, 1.0)
    if 0.0 < leaf < 1.0:  # a fraction of the rows
        leaf = leaf * rows
    split = _number(params, ("min_samples_split",), 2.0)
    if 0.0 < split < 1.0:
        split = split * rows
    leaf = max(1.0, leaf, split / 2.0)
    depth = UNLIMITED_DEPTH * math.log2(max(2.0, rows / leaf))
    limit = _number(params, DEPTH, 0.0)
    if limit > 0:  # None, 0 and -1 (LightGBM, XGBoost) mean no limit
        depth = min(depth, limit)
    leaves = _number(params, LEAVES, 0.0)
    if leaves > 1:
        depth = min(depth, UNLIMITED_DEPTH * math.log2(leaves))
    return depth


def _number(params: Mapping[str, Any], names: tuple[str, ...], default: float) -> float:
    for name in names:
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        return float(value)
    return default
