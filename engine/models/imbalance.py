"""``imbalance:`` strategies for rare-class problems.

``class_weight`` reweights the loss when the estimator takes a ``class_weight`` parameter
(and falls back to random oversampling when it does not). The resampling strategies are
imbalanced-learn samplers placed *inside* the Pipeline: imblearn pipelines resample only
during ``fit``, so validation and test rows (and served requests) are never resampled.
"""

from __future__ import annotations

from typing import Any

from engine.errors import UserError
from engine.specs import ImbalanceSpec

STRATEGIES = ("none", "class_weight", "oversample", "undersample", "smote")


def check(spec: ImbalanceSpec, task: str, key_path: str = "imbalance") -> None:
    if spec.strategy not in STRATEGIES:
        raise UserError(
            f"{key_path}.strategy: unknown strategy {spec.strategy!r} "
            f"(expected one of {list(STRATEGIES)})",
            key_path=f"{key_path}.strategy",
        )
    if task != "classification" and spec.strategy != "none":
        raise UserError(
            f"{key_path}.strategy: {spec.strategy!r} needs a classification task, got {task!r}",
            key_path=f"{key_path}.strategy",
            hint=f"remove {key_path} or set {key_path}.strategy=none",
        )


def apply_class_weight(estimator: Any, params: dict[str, Any], spec: ImbalanceSpec) -> bool:
    """Set ``class_weight`` on the estimator when it has one and the user did not set it.
    Returns whether it did (False means a sampler is needed instead)."""
    if "class_weight" not in estimator.get_params(deep=False):
        return False
    if "class_weight" not in params:
        estimator.set_params(class_weight=spec.options.get("class_weight", "balanced"))
    return True


def sampler(spec: ImbalanceSpec, seed: int) -> Any | None:
    """The imblearn sampler of a resampling strategy (None for none/class_weight)."""
    options = dict(spec.options)
    options.setdefault("random_state", seed)
    strategy = spec.strategy
    if strategy in ("none", "class_weight"):
        return None
    from imblearn.over_sampling import SMOTE, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    cls = {"oversample": RandomOverSampler, "undersample": RandomUnderSampler, "smote": SMOTE}
    try:
        return cls[strategy](**options)
    except TypeError as exc:
        raise UserError(
            f"imbalance.options: {exc}",
            key_path="imbalance.options",
            hint=f"see imbalanced-learn's {cls[strategy].__name__} for its parameters",
        ) from None
