"""After selection: gates -> package (Bento) -> smoke-serve -> promote.

Package and smoke are keyed like plan nodes (on the winner model's key and the deploy spec),
so an unchanged rerun reuses the Bento instead of building another. A winner that fails a gate
is recorded as not passed and is neither packaged nor promoted; a failed smoke test leaves the
aliases untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.plan import token
from engine.progress import Progress
from engine.specs import RecipeSpec, thaw
from engine.store.cache import MISS, ArtifactCache, EntryMeta

SMOKE_ROWS = 32


@dataclass(frozen=True)
class GateOutcome:
    passed: bool
    failures: tuple[str, ...]
    against_production: str | None  # the production version compared with, if any


def check_gates(spec: RecipeSpec, test_metrics: Mapping[str, float]) -> GateOutcome:
    from engine.gates import check_gates as evaluate

    relative = any("production" in str(expr) for expr in spec.select.gates.values())
    version, production = _production_metrics(spec.deploy.bento.name) if relative else (None, None)
    result = evaluate(spec.select.gates, test_metrics, production)
    return GateOutcome(result.passed, tuple(result.failures), version)


def _production_metrics(name: str) -> tuple[str | None, Mapping[str, float] | None]:
    from engine.store.registry import get_alias

    version = get_alias(name, "production")
    if version is None:
        return None, None
    from engine.serving import list_versions

    for v in list_versions(name):
        if v.version == version:
            return version, dict(v.metrics)
    return version, None


def feature_fields(frame: Any, features: tuple[str, ...]) -> list[Any]:
    """The served input record: one typed field per feature column."""
    from engine.serving import FeatureField
    from engine.serving.types import feature_kind

    return [FeatureField(col, feature_kind(frame[col].dtype)) for col in features]


def release(
    spec: RecipeSpec,
    outputs: Mapping[str, Any],
    model_key: str,
    record: dict[str, Any],
    cache: ArtifactCache,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Package, smoke-test and promote the winner; returns step rows for the run record."""
    gate = check_gates(spec, record["test_metrics"])
    record["gate"] = {
        "passed": gate.passed,
        "failures": list(gate.failures),
        "production": gate.against_production,
    }
    if not gate.passed:
        progress.line("gate FAILED: " + "; ".join(gate.failures) + " -> not packaged, not promoted")
        return []
    if not spec.deploy.enabled:
        return []
    steps = []
    from engine.serving import code_version

    packaged, row = _cached_step(
        cache,
        "package",
        (model_key, spec.deploy, spec.data.pii, record["recipe"], code_version()),
        lambda: _package(spec, outputs, record),
    )
    steps.append(row)
    record["bento"] = packaged.bento_tag
    record["model_version"] = packaged.version
    progress.line(f"packaged {packaged.bento_tag} (model {packaged.model_tag})")
    if spec.deploy.smoke:
        smoke, row = _cached_step(
            cache,
            "smoke",
            (packaged.bento_tag, thaw(spec.select.budget)),
            lambda: _smoke(spec, outputs, packaged),
        )
        steps.append(row)
        record["smoke"] = {
            "passed": smoke.passed,
            "p99_ms": smoke.p99_ms,
            "n": smoke.n,
            "message": smoke.message,
        }
        from engine.store.registry import record_smoke

        record_smoke(  # what `sous promote --to production` and `sous serve NAME` check
            spec.deploy.bento.name,
            packaged.version,
            smoke.passed,
            run_id=record["run_id"],
            detail=smoke.message,
        )
        p99 = "-" if smoke.p99_ms is None else f"{smoke.p99_ms:.1f}"
        verdict = "passed" if smoke.passed else f"FAILED: {smoke.message}"
        progress.line(f"smoke test {verdict} (p99 {p99} ms, {smoke.n} rows)")
        if not smoke.passed:
            return steps
    if spec.deploy.promote:
        from engine.store.registry import Mover, promote

        promote(
            spec.deploy.bento.name,
            packaged.version,
            spec.deploy.promote,
            mover=Mover(reason=f"sous run {record['recipe']}", run_id=record["run_id"]),
        )
        record["promoted"] = spec.deploy.promote
        progress.line(
            f"promoted {spec.deploy.bento.name}:{packaged.version} to {spec.deploy.promote}"
        )
    if spec.deploy.target == "container":
        record["build"] = _container(spec, packaged.version, progress)
    return steps


def _container(spec: RecipeSpec, version: str, progress: Progress) -> dict[str, str]:
    """Deploy target `container`: the Dockerfile and an exportable archive, for a Docker host."""
    from engine.home import sous_home
    from engine.serving import build

    name = spec.deploy.bento.name
    result = build(name, version, out_dir=sous_home() / "builds" / name / version)
    progress.line(f"container build context: {result.dockerfile} (archive {result.archive})")
    return {"bento": result.bento_tag, "dockerfile": result.dockerfile, "archive": result.archive}


def _cached_step(
    cache: ArtifactCache, step: str, salt: Any, compute: Any
) -> tuple[Any, dict[str, Any]]:
    import time

    key = f"{step}-{token(step, salt)}"
    value = cache.get(key)  # MISS when absent or untrusted (then quarantined): recompute
    if value is not MISS and _still_exists(step, value):
        return value, {
            "name": step,
            "key": key,
            "cached": True,
            "wall_s": 0.0,
            "cpu_s": 0.0,
            "peak_mem_mb": 0.0,
        }
    t0, c0 = time.perf_counter(), time.process_time()
    value = compute()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if step != "smoke" or value.passed:
        cache.save(key, value, EntryMeta(key, step, wall, cpu, 0.0))
    return value, {
        "name": step,
        "key": key,
        "cached": False,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "peak_mem_mb": 0.0,
    }


def _still_exists(step: str, value: Any) -> bool:
    """A cached Bento may have been deleted from BentoML's store since."""
    if step != "package":
        return True
    from engine.serving import bento_exists

    return bool(bento_exists(value.bento_tag))


def _package(spec: RecipeSpec, outputs: Mapping[str, Any], record: Mapping[str, Any]) -> Any:
    from engine.monitor.reference import for_release as reference_for_release
    from engine.serving import package

    estimator = outputs["model"]
    frame = outputs["data"].frame
    features = tuple(outputs["features"])
    classes = list(getattr(estimator, "classes_", [])) or None
    labels = {
        "recipe": spec.name,
        "run_id": record["run_id"],
        "recipe_hash": token(thaw(spec.resolved)),
        "data_fingerprint": token(
            [s["key"] for s in record["steps"] if s["name"].startswith("load:")]
        ),
        "gate": "passed",
        "select_metric": record.get("select_metric", ""),
    }
    return package(
        name=spec.deploy.bento.name,
        estimator=estimator,
        task=spec.task,
        features=feature_fields(frame, features),
        classes=classes,
        metrics=record["test_metrics"],
        labels=labels,
        deploy=spec.deploy,
        pii=spec.data.pii,
        reference=reference_for_release(spec, outputs, record),  # monitoring (issue 12)
    )


def _smoke(spec: RecipeSpec, outputs: Mapping[str, Any], packaged: Any) -> Any:
    from engine.serving import smoke
    from engine.serving.runtime.predictor import to_json_value

    frame = outputs["data"].frame
    features = list(outputs["features"])
    test_idx = outputs["split"].test[:SMOKE_ROWS]
    rows_frame = frame.iloc[test_idx][features]
    expected = outputs["model"].predict(rows_frame)
    rows = [
        {k: to_json_value(v) for k, v in r.items()} for r in rows_frame.to_dict(orient="records")
    ]
    return smoke(
        packaged.bento_tag,
        rows,
        [to_json_value(v) for v in expected],
        p99_budget_ms=spec.select.budget.get("predict_p99_ms"),
        auth_token_env=spec.deploy.auth_token_env,
    )
