"""The fallback version answers when the served one fails to score (not when it refuses the
input), says so in the answer, the metrics and the log; readiness scores the readiness row
through the serving path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from engine.serving.runtime import outcomes, readiness
from engine.serving.runtime.metrics import Metrics
from engine.serving.runtime.service import CHAMPION, FALLBACK, ScoringError, SousRuntime

FEATURES = [{"name": "x", "dtype": "float", "py": "x", "nullable": False}]


class Model:
    """Answers ``answer``; raises RuntimeError on x >= 100 (a crash), ValueError on x < 0."""

    def __init__(self, version: str, answer: int, crash_at: float = 100.0):
        self.version, self.answer, self.crash_at = version, answer, crash_at

    def __call__(self, rows: list[Any]) -> list[dict[str, Any]]:
        if any(r[0] >= self.crash_at for r in rows):
            raise RuntimeError("model crashed")
        if any(r[0] < 0 for r in rows):
            raise ValueError("negative x")
        return [{"prediction": self.answer, "probabilities": None} for _ in rows]


class Factory:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def Counter(self, **kw: Any) -> Counter:
        return Counter(registry=self.registry, **kw)

    def Histogram(self, **kw: Any) -> Histogram:
        return Histogram(registry=self.registry, **kw)


def make(tmp_path: Path, fallback: bool = True, **config: Any) -> tuple[SousRuntime, Factory]:
    factory = Factory()
    preds: dict[str, Any] = {CHAMPION: Model("v2", 1)}
    if fallback:
        preds[FALLBACK] = Model("v1", 0, crash_at=1e9)
    cfg = {"name": "m", "features": FEATURES, "log_requests": True, **config}
    rt = SousRuntime(cfg, preds, metrics=Metrics("m", factory), log_dir=tmp_path / "requests")
    return rt, factory


def predict(rt: SousRuntime, *xs: float) -> list[dict[str, Any]]:
    return asyncio.run(rt.predict([SimpleNamespace(x=x) for x in xs], {}, "predict"))


def count(factory: Factory, variant: str, outcome: str) -> float:
    labels = {"model": "m", "endpoint": "predict", "variant": variant, "outcome": outcome}
    version = "v1" if variant == FALLBACK else "v2"
    value = factory.registry.get_sample_value("sous_requests_total", {**labels, "version": version})
    return value or 0.0


def test_the_fallback_answers_when_the_champion_crashes(tmp_path: Path) -> None:
    rt, factory = make(tmp_path)
    assert [p["variant"] for p in predict(rt, 1.0)] == [CHAMPION]
    out = predict(rt, 150.0, 2.0)
    assert [(p["variant"], p["model_version"], p["prediction"]) for p in out] == [
        (FALLBACK, "v1", 0),
        (FALLBACK, "v1", 0),
    ]
    assert all(p["request_id"] for p in out)
    assert count(factory, CHAMPION, "error") == 1 and count(factory, FALLBACK, "fallback") == 1
    rt.close()
    frame = pd.concat(pd.read_parquet(p) for p in (tmp_path / "requests").glob("*.parquet"))
    assert sorted(zip(frame["_variant"], frame["_outcome"], frame["_status"], strict=True)) == [
        (CHAMPION, "ok", 200),
        (FALLBACK, "fallback", 200),
        (FALLBACK, "fallback", 200),
    ]


def test_a_refused_input_is_no_reason_to_fall_back(tmp_path: Path) -> None:
    rt, factory = make(tmp_path)
    with pytest.raises(ScoringError):
        predict(rt, -1.0)
    assert count(factory, CHAMPION, "rejected") == 1 and count(factory, FALLBACK, "fallback") == 0


def test_without_a_fallback_the_crash_is_the_client_s_500(tmp_path: Path) -> None:
    rt, _ = make(tmp_path, fallback=False)
    with pytest.raises(RuntimeError):
        predict(rt, 150.0)


def test_the_runtime_notes_the_fallback_for_the_guard(tmp_path: Path) -> None:
    rt, _ = make(tmp_path)
    note = outcomes.RequestNote("predict")

    async def go() -> None:
        outcomes.CURRENT.set(note)
        await rt.predict([SimpleNamespace(x=150.0)], {}, "predict")

    asyncio.run(go())
    assert (note.version, note.variant, note.outcome) == ("v1", FALLBACK, outcomes.FALLBACK)


@pytest.mark.parametrize(
    ("row", "fallback", "ready"),
    [
        pytest.param([1.0], False, True, id="scored"),
        pytest.param([-1.0], False, True, id="refused-but-ran"),
        pytest.param([150.0], False, False, id="crashed"),
        pytest.param([150.0], True, True, id="crashed-with-fallback"),
    ],
)
def test_readiness_scores_the_row_through_the_serving_path(
    tmp_path: Path, row: list[float], fallback: bool, ready: bool
) -> None:
    rt, _ = make(tmp_path, fallback=fallback, readiness_row=row)
    readiness.register(rt.ready)
    try:
        problem = asyncio.run(readiness.check())
    finally:
        readiness.register(None)
    assert (problem is None) == ready
    if not ready:
        assert "champion v2 could not score the readiness row (RuntimeError" in str(problem)


def test_a_busy_queue_is_still_ready(tmp_path: Path) -> None:
    from engine.serving.runtime.batching import Overloaded

    rt, _ = make(tmp_path, fallback=False, readiness_row=[1.0])

    async def busy(rows: list[Any]) -> list[Any]:
        raise Overloaded("server is overloaded")

    rt.batchers[CHAMPION].submit = busy  # type: ignore[method-assign]
    assert asyncio.run(rt.ready()) is None


def test_readiness_row_from_the_reference_or_defaults() -> None:
    from engine.drift.reference import categorical_distribution, numeric_distribution

    feats = [
        {"name": "age", "dtype": "int", "nullable": False},
        {"name": "plan", "dtype": "str", "nullable": False},
        {"name": "email", "dtype": "str", "nullable": True},
        {"name": "score", "dtype": "float", "nullable": False},
        {"name": "active", "dtype": "bool", "nullable": False},
    ]
    ref = SimpleNamespace(
        features={
            "age": numeric_distribution(list(range(0, 101))),
            "plan": categorical_distribution(["pro"] * 10 + ["basic"] * 30),
            "active": categorical_distribution([True] * 30 + [False] * 6),
        }
    )
    assert readiness.readiness_row(feats, ref) == [50, "basic", None, 0.0, True]
    assert readiness.readiness_row(feats, None) == [0, "", None, 0.0, False]
