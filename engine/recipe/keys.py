"""The vocabulary of a recipe: valid keys per section and the values enumerations allow.

Section keys come from the frozen specs in :mod:`engine.specs`, so adding a field to a spec
makes the key valid in recipes without a second list to keep in sync.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from typing import Any

from engine import specs


def spec_keys(cls: Any, *, without: Collection[str] = ()) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls) if f.name not in without)


TOP_LEVEL = frozenset(
    {
        "name", "task", "target", "seed", "data", "schema", "split", "cv", "preprocess",
        "imbalance", "models", "model", "sweep", "select", "deploy", "cluster", "cost",
        "security", "features", "stream", "monitor",
    }
)  # fmt: skip
DATA = spec_keys(specs.DataSpec)
SCHEMA = spec_keys(specs.SchemaSpec)
COLUMN = spec_keys(specs.ColumnSpec, without={"name"})
SPLIT = spec_keys(specs.SplitSpec)
CV = spec_keys(specs.CVSpec)
PREPROCESS = spec_keys(specs.PreprocessSpec)
IMBALANCE = spec_keys(specs.ImbalanceSpec)
SWEEP = spec_keys(specs.SweepSpec)
HALVING = spec_keys(specs.HalvingSpec)
SELECT = spec_keys(specs.SelectSpec, without={"greater_is_better", "tiebreak_greater_is_better"})
SELECT_TRADEOFF = spec_keys(specs.TradeoffSpec)
DEPLOY = spec_keys(specs.DeploySpec)
BENTO = spec_keys(specs.BentoSpec)
AUTH = spec_keys(specs.AuthSpec)
CLUSTER = spec_keys(specs.ClusterSpec)
COST = spec_keys(specs.CostSpec)
SECURITY = frozenset({"allow_targets"})  # known, and refused: see recipe/guard.py
MODEL_SELECTOR = frozenset({"name", *specs.TASKS})
MODEL_RESERVED = frozenset({"_target_", "kind", "search", "resources", "imbalance"})

SECTIONS: dict[str, frozenset[str]] = {
    "": TOP_LEVEL,
    "data": DATA,
    "schema": SCHEMA,
    "split": SPLIT,
    "cv": CV,
    "preprocess": PREPROCESS,
    "imbalance": IMBALANCE,
    "sweep": SWEEP,
    "sweep.halving": HALVING,
    "select": SELECT,
    "select.tradeoff": SELECT_TRADEOFF,
    "deploy": DEPLOY,
    "deploy.bento": BENTO,
    "deploy.auth": AUTH,
    "cluster": CLUSTER,
    "cost": COST,
    "security": SECURITY,
}

SPLIT_KINDS = ("random", "stratified", "group", "time")
CV_KINDS = ("kfold", "stratified_kfold", "group_kfold", "time_series")
SOURCE_KINDS = ("csv", "parquet", "json", "sql", "sklearn")
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes")
FILE_KINDS = ("csv", "parquet", "json")
INTEGRATE_OPS = ("join", "union", "asof", "dedupe", "windows")
JOIN_HOW = ("inner", "left", "right", "outer")
ASOF_DIRECTIONS = ("backward", "forward", "nearest")
PII_ACTIONS = ("hash", "drop", "redact")
ON_FAILURE = ("fail", "warn", "quarantine")
IMPUTE_NUMERIC = ("mean", "median", "most_frequent", "constant", "none")
IMPUTE_CATEGORICAL = ("most_frequent", "constant", "none")
SCALE = ("standard", "minmax", "robust", "none")
ENCODE = ("onehot", "ordinal")
NUMERIC_PREPROCESS = frozenset({"impute", "scale", "fill_value"})
# one-hot only: rare categories (min_frequency) and a cap on columns (max_categories) fold
# into one "infrequent" column, as scikit-learn's OneHotEncoder does
CATEGORICAL_PREPROCESS = frozenset(
    {"impute", "encode", "fill_value", "min_frequency", "max_categories"}
)
IMBALANCE_STRATEGIES = ("none", "class_weight", "oversample", "undersample", "smote")
SWEEP_STRATEGIES = ("grid", "random", "optuna", "halving")
HALVING_MIN_RESOURCES = ("exhaust", "smallest")  # or an int
HALVING_CANDIDATES = ("grid", "random")
SWEEP_BUDGET = ("cpu_hours", "money")
SELECT_BUDGET = ("predict_p99_ms",)
# select.tradeoff.cost: a weight per measured cost (per-row predict ms, pickled MB, refit CPU-s)
TRADEOFF_COST = ("latency_ms", "size_mb", "train_cpu_s")
DEPLOY_TARGETS = ("bento", "serve", "container")
ALIASES = ("staging", "production")
CLUSTER_KINDS = ("sync", "local", "remote")
MODEL_KINDS = ("sklearn", "lightning", "dask_xgboost", "dask_lightgbm", "incremental")

# Used only when engine.metrics cannot be imported (it is the source of truth).
FALLBACK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": (
        "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc",
        "log_loss",
    ),
    "regression": ("rmse", "mae", "r2"),
}  # fmt: skip
FALLBACK_LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics a task can select and gate on (from :mod:`engine.metrics` when present)."""
    try:
        from engine.metrics import METRIC_NAMES
    except ImportError:
        return FALLBACK_METRICS.get(task, ())
    return tuple(METRIC_NAMES.get(task, ()))


def metric_known(task: str, name: str) -> bool:
    """A built-in metric of ``task`` or a scikit-learn scorer name of ``task`` (scikit-learn
    is imported only for a name that is not a built-in)."""
    if name in metric_names(task):
        return True
    try:
        from engine.metrics import known
    except ImportError:
        return False
    return bool(known(name, task))


def metric_choices(task: str) -> tuple[str, ...]:
    """Every metric name ``task`` accepts, built-ins first (for "did you mean")."""
    try:
        from engine.metrics import choices
    except ImportError:
        return metric_names(task)
    return tuple(choices(task))


def greater_is_better(metric: str) -> bool:
    try:
        from engine.metrics import greater_is_better as gib
    except ImportError:
        return metric not in FALLBACK_LOWER_IS_BETTER
    return bool(gib(metric))
