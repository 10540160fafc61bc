"""Save a fitted estimator as a BentoML model and build a Bento serving it, offline.

A Bento carries the generated ``service.py``, a copy of the ``engine`` package (the served
process unpickles the estimator, which may reference Sous's own adapters, and runs
:mod:`engine.serving.runtime`) and the model(s). Requirements are pinned to the versions
installed here and never locked online (``lock_packages: false``): builds work offline.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from engine.errors import NotFoundError, UserError
from engine.security import at_rest
from engine.serving._bentoml import bentoml, quiet
from engine.serving.codegen import SERVICE_FILE, class_name, python_names, service_source
from engine.serving.runtime.predictor import ESTIMATOR_FILE, META_KEY, sous_metadata
from engine.serving.runtime.readiness import readiness_row, sealed_row
from engine.serving.types import DTYPES, Experiment, FeatureField, Packaged
from engine.specs import DeploySpec, thaw

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
# httptools: uvicorn's C HTTP parser (a third less server CPU per request than its
# pure-Python h11, which it falls back to when httptools is missing)
BASE_PACKAGES = (
    "numpy", "pandas", "scikit-learn", "cloudpickle", "pyarrow", "pydantic", "httptools"
)  # fmt: skip
OPTIONAL_PACKAGES = {
    b"torch": ("torch", "lightning"),
    b"imblearn": ("imbalanced-learn",),
    b"xgboost": ("xgboost-cpu",),  # kind: dask_xgboost serves a plain Booster
    b"lightgbm": ("lightgbm",),  # kind: dask_lightgbm serves LightGBM's local model
}
DEFAULT_BATCHING = {"max_batch_size": 64, "max_latency_ms": 10_000}
MAX_BATCH_RECORDS = 10_000
MAX_BODY_BYTES = 8 * 1024 * 1024


def check_name(name: str, key_path: str = "deploy.bento.name") -> str:
    if not NAME_RE.match(name or ""):
        raise UserError(
            f"{key_path}: {name!r} is not a valid model/Bento name "
            "(expected lowercase letters, digits, '-', '_' or '.')",
            key_path=key_path,
            hint=f"use e.g. {re.sub(r'[^a-z0-9._-]+', '-', (name or 'model').lower()).strip('-._') or 'model'!r}",
        )
    return name


def _check_features(features: Sequence[FeatureField]) -> None:
    if not features:
        raise UserError("package: no feature columns given; a served model needs at least one")
    for f in features:
        if f.dtype not in DTYPES:
            raise UserError(
                f"feature {f.name!r}: dtype {f.dtype!r} cannot be served "
                f"(expected one of {', '.join(DTYPES)})"
            )


def package(
    *,
    name: str,
    estimator: Any,
    task: str,
    features: Sequence[FeatureField],
    classes: Sequence[Any] | None,
    metrics: Mapping[str, float],
    labels: Mapping[str, str],
    deploy: DeploySpec,
    pii: Mapping[str, str] | None = None,
    pii_salt_env: str = "SOUS_PII_SALT",
    reference: Any | None = None,  # engine.monitor Reference, kept with the version
) -> Packaged:
    """Save ``estimator`` as a new version of model ``deploy.bento.name``, build its Bento,
    and record the version in the registry (no alias moves: that is the caller's choice)."""
    import cloudpickle

    model_name = check_name(deploy.bento.name or name)
    _check_features(features)
    metric_values = {k: float(v) for k, v in metrics.items()}
    meta: dict[str, Any] = {
        "task": task,
        "features": [{"name": f.name, "dtype": f.dtype, "nullable": f.nullable} for f in features],
        "classes": [_plain(c) for c in classes] if classes is not None else None,
        "metrics": metric_values,
        "serving": {
            "batching": {**DEFAULT_BATCHING, **thaw(deploy.bento.batching)},
            "auth_token_env": deploy.auth_token_env,
            "protect_metrics": bool(deploy.auth.protect_metrics),
            "log_requests": bool(deploy.log_requests),
            "pii": dict(pii or {}),
            "pii_salt_env": pii_salt_env,
            "workers": int(deploy.bento.workers),
        },
    }
    # what /readyz scores: typical values from the reference, never a training row
    meta["serving"]["readiness_row"] = sealed_row(readiness_row(meta["features"], reference))
    bm = bentoml()
    blob = cloudpickle.dumps(estimator)
    stored_meta: dict[str, Any] = {META_KEY: json.dumps(meta)}
    stored_meta.update({f"metric_{k}": v for k, v in metric_values.items()})
    with (
        quiet(),
        bm.models.create(
            model_name, labels={k: str(v) for k, v in labels.items()}, metadata=stored_meta
        ) as m,
    ):
        # sealed when encryption at rest is on: the pickle holds category levels, and more
        Path(m.path_of(ESTIMATOR_FILE)).write_bytes(at_rest.seal(blob))
        if reference is not None:  # what monitoring compares live traffic with (issue 12)
            from engine.drift.reference import REFERENCE_FILE, save

            save(reference, Path(m.path_of(REFERENCE_FILE)).parent)
        model_tag = str(m.tag)
    models = {"champion": model_tag}
    fallback = fallback_version(model_name, meta) if deploy.fallback == "previous" else None
    if fallback is not None:
        models["fallback"] = fallback.model_tag
    bento = build_bento(
        model_name, models, labels={"fallback": fallback.version} if fallback else None
    )
    version = model_tag.split(":", 1)[1]
    from engine.store import registry

    registry.record_version(
        model_name,
        version,
        model_tag=model_tag,
        bento_tag=str(bento.tag),
        metrics=metric_values,
        labels=dict(labels),
    )
    return Packaged(
        model_tag=model_tag, bento_tag=str(bento.tag), version=version, bento_path=str(bento.path)
    )


def fallback_version(name: str, meta: Mapping[str, Any]) -> Any | None:
    """``deploy.fallback: previous``: the version that answers when the new one fails to
    score: the one in production, else in staging, else the newest, that takes the same
    inputs for the same task (None for a model's first version)."""
    from engine.store import registry

    records = {r.version: r for r in registry.versions(name)}
    current = registry.aliases(name)
    order = [current.get("production"), current.get("staging"), *reversed(records)]
    for version in dict.fromkeys(v for v in order if v in records):
        try:
            other = sous_metadata(model_info(records[version].model_tag).info.metadata)
        except NotFoundError:  # removed from the model store
            continue
        if other["features"] == meta["features"] and other["task"] == meta["task"]:
            return records[version]
    return None


def _plain(v: Any) -> Any:
    item = getattr(v, "item", None)
    return item() if callable(item) else v


def _needs(blob: bytes) -> tuple[str, ...]:
    """Extra requirements the pickled estimator references (torch for Lightning models...)."""
    out: list[str] = []
    for marker, pkgs in OPTIONAL_PACKAGES.items():
        if marker in blob:
            out.extend(pkgs)
    return tuple(out)


def _pinned(packages: Sequence[str]) -> list[str]:
    pins = []
    for p in dict.fromkeys(packages):
        try:
            pins.append(f"{p}=={importlib_metadata.version(p)}")
        except importlib_metadata.PackageNotFoundError:
            pins.append(p)
    return pins


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def python_options(pins: Sequence[str]) -> dict[str, Any]:
    """The Bento's Python requirements: pinned, never locked online (offline builds), with
    PyTorch's CPU index when a ``+cpu`` wheel is pinned (PyPI does not carry those)."""
    options: dict[str, Any] = {"packages": list(pins), "lock_packages": False}
    if any("+cpu" in p for p in pins):
        options["extra_index_url"] = [TORCH_CPU_INDEX]
    return options


def model_info(model_tag: str) -> Any:
    bm = bentoml()
    try:
        return bm.models.get(model_tag)
    except bm.exceptions.NotFound:
        raise NotFoundError(
            f"model {model_tag!r} is not in the model store",
            hint="list versions with `sous models ls NAME`",
        ) from None


def build_bento(
    name: str,
    models: Mapping[str, str],
    *,
    routing: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Any:
    """Generate the service for ``models`` (variant -> model tag) and build its Bento."""
    champion = model_info(models["champion"])
    meta = sous_metadata(champion.info.metadata)
    extra_packages = _check_variants(models, meta)
    features = [
        FeatureField(f["name"], f["dtype"], bool(f.get("nullable"))) for f in meta["features"]
    ]
    config = _service_config(name, meta, features, routing)
    source = service_source(
        name=name,
        features=features,
        models=models,
        config=config,
        max_batch_records=MAX_BATCH_RECORDS,
    )
    bento_labels = {k: str(v) for k, v in champion.info.labels.items()}
    bento_labels.update({f"model_{v}": t for v, t in models.items()})
    bento_labels.update(labels or {})
    # Env vars the server refuses to start without: BentoServer checks them up front.
    if config["auth_token_env"]:
        bento_labels["auth_token_env"] = str(config["auth_token_env"])
    if any(config["pii"].get(f.name) == "hash" for f in features):
        bento_labels["pii_salt_env"] = str(config["pii_salt_env"])
    if at_rest.enabled():  # the served process opens the sealed model with the same key
        extra_packages.append("cryptography")
    return _build(name, source, bento_labels, [*BASE_PACKAGES, *extra_packages], models)


def _check_variants(models: Mapping[str, str], meta: Mapping[str, Any]) -> list[str]:
    """Every variant takes the champion's inputs; returns the extra packages they need."""
    extra: list[str] = []
    for variant, tag in models.items():
        info = model_info(tag)
        extra += _needs(at_rest.read_sealed(info.path_of(ESTIMATOR_FILE)))
        other = sous_metadata(info.info.metadata)
        if other["features"] != meta["features"] or other["task"] != meta["task"]:
            raise UserError(
                f"{variant} {tag!r} has other features or task than the champion "
                f"{models['champion']!r}; A/B and shadow need the same inputs"
            )
    return extra


def _service_config(
    name: str,
    meta: Mapping[str, Any],
    features: Sequence[FeatureField],
    routing: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The JSON the generated service reads at start-up (runtime behaviour, no secrets)."""
    serving = meta.get("serving") or {}
    pys = python_names(features)
    return {
        "name": name,
        "task": meta["task"],
        "features": [{**f, "py": py} for f, py in zip(meta["features"], pys, strict=True)],
        "routing": dict(routing or {"mode": "single"}),
        "batching": serving.get("batching", DEFAULT_BATCHING),
        "auth_token_env": serving.get("auth_token_env"),
        "protect_metrics": bool(serving.get("protect_metrics")),
        "log_requests": bool(serving.get("log_requests")),
        "pii": serving.get("pii") or {},
        "pii_salt_env": serving.get("pii_salt_env", "SOUS_PII_SALT"),
        "max_body_bytes": MAX_BODY_BYTES,
        "workers": int(serving.get("workers", 1)),
        "readiness_row": serving.get("readiness_row"),
    }


def _build(
    name: str,
    source: str,
    labels: Mapping[str, str],
    packages: Sequence[str],
    models: Mapping[str, str],
) -> Any:
    bm = bentoml()
    with tempfile.TemporaryDirectory(prefix="sous-bento-") as ctx:
        _write_context(Path(ctx), source)
        sys.modules.pop("service", None)  # BentoML imports the file as module "service"
        try:
            with quiet():
                return bm.bentos.build(
                    f"service:{class_name(name)}Service",
                    name=name,
                    labels=dict(labels),
                    description=f"Model {name!r} served by Sous ({', '.join(models.values())})",
                    include=[SERVICE_FILE, "engine/**/*.py", "engine/py.typed"],
                    exclude=["__pycache__", "*.pyc"],
                    python=python_options(_pinned(packages)),
                    docker={"python_version": f"{sys.version_info.major}.{sys.version_info.minor}"},
                    build_ctx=ctx,
                )
        finally:
            sys.modules.pop("service", None)


def _write_context(ctx: Path, source: str) -> None:
    import engine

    (ctx / SERVICE_FILE).write_text(source)
    src = Path(engine.__file__).parent
    shutil.copytree(src, ctx / "engine", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def package_experiment(name: str, experiment: Experiment) -> Packaged:
    """Build one Bento serving two versions of ``name``: A/B split or shadow."""
    if experiment.mode not in ("ab", "shadow"):
        raise UserError(
            f"experiment mode {experiment.mode!r} is unknown (expected 'ab' or 'shadow')",
            key_path="deploy.experiment.mode",
        )
    if not 0.0 <= experiment.share <= 1.0:
        raise UserError(
            f"experiment share {experiment.share} is outside [0, 1]",
            key_path="deploy.experiment.share",
        )
    from engine.store import registry

    champ = registry.get_version(name, experiment.champion)
    chall = registry.get_version(name, experiment.challenger)
    routing = {
        "mode": experiment.mode,
        "share": experiment.share,
        "sticky_header": experiment.sticky_header.lower(),
    }
    bento = build_bento(
        name,
        {"champion": champ.model_tag, "challenger": chall.model_tag},
        routing=routing,
        labels={"experiment": experiment.mode, "share": str(experiment.share)},
    )
    return Packaged(
        model_tag=champ.model_tag,
        bento_tag=str(bento.tag),
        version=champ.version,
        bento_path=str(bento.path),
    )
