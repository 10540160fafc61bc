"""After selection: gates -> package (Bento) -> smoke-serve -> promote.

Package and smoke are keyed like plan nodes (on the winner model's key and the deploy spec),
so an unchanged rerun reuses the Bento instead of building another. A winner that fails a gate
is recorded as not passed and is neither packaged nor promoted; a failed smoke test leaves the
aliases untouched. :func:`release` returns a typed :class:`ReleaseOutcome`; it reads the
run only through its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.plan import Plan, token
from engine.progress import Progress
from engine.run.record import (
    BuildResult,
    GateResult,
    ReleaseOutcome,
    SmokeResult,
    StepRow,
)
from engine.specs import RecipeSpec, thaw
from engine.store.cache import MISS, ArtifactCache, EntryMeta

SMOKE_ROWS = 32


@dataclass(frozen=True)
class Winner:
    """What the release needs to know about the run: who won, and how it scored."""

    run_id: str
    plan: Plan
    outputs: Mapping[str, Any]  # by role, loaded on demand
    test_metrics: Mapping[str, Any]
    select_metric: str
    run_started: float = 0.0  # the run's start (epoch s): release steps' offsets count from it


def check_gates(spec: RecipeSpec, test_metrics: Mapping[str, Any]) -> GateResult:
    from engine.gates import check_gates as evaluate

    relative = any("production" in str(expr) for expr in spec.select.gates.values())
    version, production = _production_metrics(spec.deploy.bento.name) if relative else (None, None)
    result = evaluate(spec.select.gates, test_metrics, production)
    return GateResult(result.passed, tuple(result.failures), version)


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
    spec: RecipeSpec, winner: Winner, cache: ArtifactCache, progress: Progress
) -> ReleaseOutcome:
    """Gates, then package, smoke-test and promote the winner."""
    gate = check_gates(spec, winner.test_metrics)
    outcome = ReleaseOutcome(gate)
    if not gate.passed:
        progress.line("gate FAILED: " + "; ".join(gate.failures) + " -> not packaged, not promoted")
        return outcome
    if not spec.deploy.enabled:
        return outcome
    from engine.serving import code_version

    model_key = winner.plan.outputs["model"]
    with progress.stage("packaging"):  # silent for seconds: the display's clock keeps moving
        packaged, row = _cached_step(
            cache,
            winner.run_started,
            "package",
            (model_key, spec.deploy, spec.data.pii, spec.name, code_version()),
            lambda: _package(spec, winner),
        )
    steps: tuple[StepRow, ...] = (row,)
    outcome = ReleaseOutcome(gate, packaged.bento_tag, packaged.version, steps=steps)
    progress.line(f"packaged {packaged.bento_tag} (model {packaged.model_tag})")
    smoke = None
    if spec.deploy.smoke:
        with progress.stage("smoke test"):
            done, row = _cached_step(
                cache,
                winner.run_started,
                "smoke",
                (packaged.bento_tag, thaw(spec.select.budget)),
                lambda: _smoke(spec, winner.outputs, packaged),
            )
        steps += (row,)
        smoke = SmokeResult(done.passed, done.p99_ms, done.n, done.message)
        outcome = ReleaseOutcome(gate, packaged.bento_tag, packaged.version, smoke, steps=steps)
        from engine.store.registry import record_smoke

        record_smoke(  # what `sous promote --to production` and `sous serve NAME` check
            spec.deploy.bento.name,
            packaged.version,
            smoke.passed,
            run_id=winner.run_id,
            detail=smoke.message,
        )
        p99 = "-" if smoke.p99_ms is None else f"{smoke.p99_ms:.1f}"
        verdict = "passed" if smoke.passed else f"FAILED: {smoke.message}"
        progress.line(f"smoke test {verdict} (p99 {p99} ms, {smoke.n} rows)")
        if not smoke.passed:
            return outcome
    promoted = None
    if spec.deploy.promote:
        from engine.store.registry import Mover, promote

        promote(
            spec.deploy.bento.name,
            packaged.version,
            spec.deploy.promote,
            mover=Mover(reason=f"sous run {spec.name}", run_id=winner.run_id),
        )
        promoted = spec.deploy.promote
        progress.line(
            f"promoted {spec.deploy.bento.name}:{packaged.version} to {spec.deploy.promote}"
        )
    build = (
        _container(spec, packaged.version, progress) if spec.deploy.target == "container" else None
    )
    return ReleaseOutcome(gate, packaged.bento_tag, packaged.version, smoke, promoted, build, steps)


def _container(spec: RecipeSpec, version: str, progress: Progress) -> BuildResult:
    """Deploy target `container`: the Dockerfile and an exportable archive, for a Docker host."""
    from engine.home import sous_home
    from engine.serving import build

    name = spec.deploy.bento.name
    result = build(name, version, out_dir=sous_home() / "builds" / name / version)
    progress.line(f"container build context: {result.dockerfile} (archive {result.archive})")
    return BuildResult(result.bento_tag, str(result.dockerfile), str(result.archive))


def _cached_step(
    cache: ArtifactCache, run_started: float, step: str, salt: Any, compute: Any
) -> tuple[Any, StepRow]:
    """A release step, keyed like a node; it runs in the driver's process (``"driver"``)."""
    import time

    key = f"{step}-{token(step, salt)}"
    value = cache.get(key)  # MISS when absent or untrusted (then quarantined): recompute
    if value is not MISS and _still_exists(step, value):
        return value, StepRow(step, key, cached=True)
    started = time.time()
    t0, c0 = time.perf_counter(), time.process_time()
    value = compute()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if step != "smoke" or value.passed:
        cache.save(key, value, EntryMeta(key, step, wall, cpu, 0.0))
    row = StepRow(
        step,
        key,
        cached=False,
        wall_s=round(wall, 4),
        cpu_s=round(cpu, 4),
        worker="driver",
        started_s=round(max(0.0, started - run_started), 3),
    )
    return value, row


def _still_exists(step: str, value: Any) -> bool:
    """A cached Bento may have been deleted from BentoML's store since."""
    if step != "package":
        return True
    from engine.serving import bento_exists

    return bool(bento_exists(value.bento_tag))


def _package(spec: RecipeSpec, winner: Winner) -> Any:
    from engine.drift.reference import for_release as reference_for_release
    from engine.serving import package

    outputs = winner.outputs
    estimator = outputs["model"]
    frame = outputs["data"].frame
    features = tuple(outputs["features"])
    classes = list(getattr(estimator, "classes_", [])) or None
    labels = {
        "recipe": spec.name,
        "run_id": winner.run_id,
        "recipe_hash": token(thaw(spec.resolved)),
        "data_fingerprint": token(list(winner.plan.sources.values())),
        "gate": "passed",
        "select_metric": winner.select_metric,
    }
    return package(
        name=spec.deploy.bento.name,
        estimator=estimator,
        task=spec.task,
        features=feature_fields(frame, features),
        classes=classes,
        metrics=dict(winner.test_metrics),
        labels=labels,
        deploy=spec.deploy,
        pii=spec.data.pii,
        reference=reference_for_release(spec, outputs, winner.test_metrics),  # issue 12
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
