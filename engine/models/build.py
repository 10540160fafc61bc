"""A model entry of a recipe -> one unfitted scikit-learn-compatible Pipeline.

The Pipeline is the unit Sous fits, scores, refits, stores and serves:
``preprocess`` (ColumnTransformer) -> optional ``pca`` / ``select`` -> optional
``resample`` (imblearn sampler, training-time only) -> ``model``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import UserError
from engine.models import imbalance as imb
from engine.models.preprocess import column_transformer, reducers, split_columns
from engine.specs import ImbalanceSpec, ModelSpec, PreprocessSpec, thaw

LIGHTNING_CLASSES = {
    "classification": "engine.models.lightning.TabularMLPClassifier",
    "regression": "engine.models.lightning.TabularMLPRegressor",
}
# kind: dask_xgboost (engine/models/dask_xgboost.py), by task
DASK_XGBOOST_CLASSES = {
    "classification": "engine.models.dask_xgboost.DaskXGBClassifier",
    "regression": "engine.models.dask_xgboost.DaskXGBRegressor",
}
# kind: dask_lightgbm (engine/models/dask_lightgbm.py), by task
DASK_LIGHTGBM_CLASSES = {
    "classification": "engine.models.dask_lightgbm.DaskLightGBMClassifier",
    "regression": "engine.models.dask_lightgbm.DaskLightGBMRegressor",
}
SEED_PARAMS = ("random_state", "seed")


def import_target(path: str, key_path: str) -> Any:
    """The estimator class named by a dotted ``_target_``, checked again here (allowlist,
    no private module, an estimator class) before anything is called: the spec may not
    have come through validation (a pickled spec, a multirun job on a worker)."""
    from engine.security.targets import TargetRefused, allowlist, resolve_class

    try:
        return resolve_class(path, allowlist())
    except TargetRefused as exc:
        raise UserError(
            f"{key_path}: {exc.refusal.message} (got {path!r})",
            key_path=key_path,
            hint=exc.refusal.hint,
        ) from None
    except ImportError as exc:
        raise UserError(
            f"{key_path}: cannot import {path!r}: {exc}",
            key_path=key_path,
            hint="check the spelling of the module and class, e.g. "
            "sklearn.ensemble.RandomForestClassifier",
        ) from None


def target_path(model: ModelSpec, task: str) -> str:
    if model.kind == "lightning":
        return LIGHTNING_CLASSES[task]
    if model.kind == "dask_xgboost":
        return DASK_XGBOOST_CLASSES[task]
    if model.kind == "dask_lightgbm":
        return DASK_LIGHTGBM_CLASSES[task]
    if model.kind not in ("sklearn", "incremental") or not model.target:
        raise UserError(
            f"models.{model.name}: kind {model.kind!r} needs a _target_"
            if model.kind in ("sklearn", "incremental")
            else f"models.{model.name}.kind: unknown kind {model.kind!r} "
            "(expected sklearn, lightning, dask_xgboost, dask_lightgbm or incremental)",
            key_path=f"models.{model.name}",
        )
    return model.target


def trial_params(model: ModelSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator's params for one trial: the recipe's, with the trial's on top."""
    return {**thaw(model.params), **thaw(params)}


def make_model(
    model: ModelSpec, params: Mapping[str, Any], *, task: str, seed: int
) -> tuple[Any, dict[str, Any]]:
    """The bare estimator: class from ``_target_``, recipe params overridden by trial
    params, and the recipe seed wherever the estimator takes one the user did not set.
    Returns (estimator, the merged params)."""
    from sklearn.base import is_classifier, is_regressor

    path = f"models.{model.name}._target_"
    cls = import_target(target_path(model, task), path)
    merged = trial_params(model, params)
    stream: dict[str, Any] = {}
    if model.kind == "incremental":  # kind: incremental (engine/models/incremental.py)
        from engine.models.incremental import STREAM_PARAMS

        stream = {k: merged[k] for k in STREAM_PARAMS if k in merged}
    try:
        est = cls(**{k: v for k, v in merged.items() if k not in stream})
    except TypeError as exc:
        raise UserError(
            f"models.{model.name}: bad parameter for {cls.__name__}: {exc}",
            key_path=f"models.{model.name}",
            hint=f"see {cls.__name__}'s documentation for its parameters",
        ) from None
    own = est.get_params(deep=False)
    for name in SEED_PARAMS:
        if name in own and name not in merged:
            est.set_params(**{name: seed})
    if model.kind == "incremental":
        est = _incremental(est, stream, seed, f"models.{model.name}")
    fits_task = is_classifier(est) if task == "classification" else is_regressor(est)
    if not fits_task:
        raise UserError(
            f"{path}: {cls.__name__} is not a {task} model",
            key_path=path,
            hint="pick a Classifier for classification, a Regressor for regression",
        )
    return est, merged


def _incremental(learner: Any, stream: dict[str, Any], seed: int, where: str) -> Any:
    """``kind: incremental``: the learner wrapped to be streamed over row blocks."""
    from engine.models.incremental import wrap

    if not hasattr(learner, "partial_fit"):
        raise UserError(
            f"{where}._target_: {type(learner).__name__} has no partial_fit, so it cannot "
            "learn incrementally",
            key_path=f"{where}._target_",
            hint="use e.g. sklearn.linear_model.SGDClassifier, SGDRegressor or "
            "sklearn.naive_bayes.GaussianNB, or kind: sklearn",
        )
    return wrap(learner, stream, seed)


def estimator_for(
    frame: Any,
    cols: Sequence[str],
    *,
    task: str,
    model: ModelSpec,
    params: Mapping[str, Any],
    preprocess: PreprocessSpec,
    imbalance: ImbalanceSpec,
    seed: int,
) -> Any:
    """:func:`build_estimator` for the feature columns ``cols`` of ``frame``, typed numeric
    or categorical from the frame's dtypes (the in-memory and the partitioned fits share it)."""
    numeric, categorical = split_columns(frame, cols)
    return build_estimator(
        model,
        params,
        task=task,
        preprocess=preprocess,
        imbalance=imbalance,
        numeric=numeric,
        categorical=categorical,
        seed=seed,
    )


def build_estimator(
    model: ModelSpec,
    params: Mapping[str, Any],
    *,
    task: str,
    preprocess: PreprocessSpec,
    imbalance: ImbalanceSpec,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int,
) -> Any:
    """An unfitted Pipeline. ``model.imbalance`` (per-model) wins over ``imbalance``."""
    spec = model.imbalance or imbalance
    where = f"models.{model.name}.imbalance" if model.imbalance else "imbalance"
    imb.check(spec, task, where)
    est, merged = make_model(model, params, task=task, seed=seed)
    steps: list[tuple[str, Any]] = [
        ("preprocess", column_transformer(preprocess, numeric, categorical))
    ]
    steps += reducers(preprocess, task, seed)
    if spec.strategy == "class_weight" and not imb.apply_class_weight(est, merged, spec):
        options = {k: v for k, v in spec.options.items() if k != "class_weight"}
        spec = ImbalanceSpec("oversample", options)
    sampler = imb.sampler(spec, seed)
    if sampler is None:
        from sklearn.pipeline import Pipeline

        return Pipeline([*steps, ("model", est)])
    from imblearn.pipeline import Pipeline as ImbPipeline

    return ImbPipeline([*steps, ("resample", sampler), ("model", est)])


def default_resources(kind: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Worker resources a model's fit needs: ``{"GPU": 1}`` for a Lightning model whose
    entry says ``accelerator: gpu``; nothing otherwise (CPU is the default everywhere)."""
    if kind == "lightning" and str(params.get("accelerator", "cpu")).lower() in ("gpu", "cuda"):
        return {"GPU": 1}
    return {}
