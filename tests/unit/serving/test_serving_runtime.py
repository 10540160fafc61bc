"""Routing (A/B, sticky, shadow), per-variant metrics and logging of the service runtime."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from engine.serving.runtime.metrics import Metrics
from engine.serving.runtime.service import CHALLENGER, CHAMPION, SousRuntime, route_share

FEATURES = [{"name": "x", "dtype": "float", "py": "x", "nullable": False}]


class FakePredictor:
    def __init__(self, version: str, answer: int):
        self.version = version
        self.answer = answer
        self.seen = 0

    def __call__(self, rows: list[Any]) -> list[dict[str, Any]]:
        self.seen += len(rows)
        return [{"prediction": self.answer, "probabilities": None} for _ in rows]


class RegistryFactory:
    """prometheus_client metrics bound to a private registry (the server uses bentoml.metrics)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def Counter(self, **kw: Any) -> Counter:
        return Counter(registry=self.registry, **kw)

    def Histogram(self, **kw: Any) -> Histogram:
        return Histogram(registry=self.registry, **kw)


def runtime(routing: dict[str, Any], **kw: Any) -> tuple[SousRuntime, RegistryFactory]:
    factory = RegistryFactory()
    cfg = {"name": "m", "features": FEATURES, "routing": routing, **kw.pop("config", {})}
    preds = {CHAMPION: FakePredictor("v1", 0), CHALLENGER: FakePredictor("v2", 1)}
    rt = SousRuntime(cfg, preds, metrics=Metrics("m", factory), seed=1, **kw)
    return rt, factory


def records(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(x=float(i)) for i in range(n)]


@pytest.mark.parametrize(
    ("share", "low", "high"),
    [
        pytest.param(0.0, 0, 0, id="none"),
        pytest.param(0.25, 1800, 3200, id="quarter"),
        pytest.param(1.0, 10_000, 10_000, id="all"),
    ],
)
def test_route_share_proportions_random_and_keyed(share: float, low: int, high: int) -> None:
    rng = random.Random(0)
    assert low <= sum(route_share(None, share, rng) for _ in range(10_000)) <= high
    assert low <= sum(route_share(f"user-{i}", share, rng) for i in range(10_000)) <= high


def test_sticky_key_always_gets_the_same_variant() -> None:
    rt, _ = runtime({"mode": "ab", "share": 0.5, "sticky_header": "x-sous-key"})
    for key in ("alice", "bob", "carol", "dan"):
        first = rt.choose({"x-sous-key": key})
        assert all(rt.choose({"x-sous-key": key}) == first for _ in range(20))


def test_single_mode_always_serves_champion() -> None:
    rt, _ = runtime({"mode": "single"})
    assert {rt.choose({}) for _ in range(50)} == {CHAMPION}


def test_ab_split_returns_both_variants_and_counts_them_apart() -> None:
    rt, factory = runtime({"mode": "ab", "share": 0.5})

    async def main() -> list[list[dict[str, Any]]]:
        return [await rt.predict(records(1), {}, "predict") for _ in range(200)]

    out = asyncio.run(main())
    variants = [o[0]["variant"] for o in out]
    assert 60 < variants.count(CHALLENGER) < 140
    for o in out:  # each answer comes from the version it names
        assert o[0]["prediction"] == (1 if o[0]["variant"] == CHALLENGER else 0)
    reg = factory.registry
    labels = {"model": "m", "endpoint": "predict", "outcome": "ok"}
    a = reg.get_sample_value(
        "sous_requests_total", {**labels, "version": "v1", "variant": CHAMPION}
    )
    b = reg.get_sample_value(
        "sous_requests_total", {**labels, "version": "v2", "variant": CHALLENGER}
    )
    assert a == variants.count(CHAMPION) and b == variants.count(CHALLENGER)
    count = reg.get_sample_value(
        "sous_request_latency_seconds_count", {**labels, "version": "v1", "variant": CHAMPION}
    )
    assert count == a


def test_shadow_returns_champion_and_logs_challenger(tmp_path: Path) -> None:
    rt, factory = runtime({"mode": "shadow"}, config={"log_requests": True}, log_dir=tmp_path)

    async def main() -> list[list[dict[str, Any]]]:
        out = [await rt.predict(records(3), {}, "predict_batch") for _ in range(5)]
        await rt.drain()
        return out

    out = asyncio.run(main())
    assert all(p["variant"] == CHAMPION and p["prediction"] == 0 for o in out for p in o)
    assert rt.predictors[CHALLENGER].seen == 15  # type: ignore[attr-defined]
    rt.close()
    df = pd.concat(pd.read_parquet(f) for f in tmp_path.glob("*.parquet"))
    assert sorted(df["_role"].unique()) == ["served", "shadow"]
    shadow = df[df["_role"] == "shadow"]
    assert len(shadow) == 15 and set(shadow["_version"]) == {"v2"}
    assert set(shadow["_prediction"]) == {"1"}
    sample = factory.registry.get_sample_value(
        "sous_requests_total",
        {
            "model": "m",
            "endpoint": "predict_batch",
            "outcome": "shadow",
            "version": "v2",
            "variant": CHALLENGER,
        },
    )
    assert sample == 5


def test_model_error_is_counted_and_raised() -> None:
    factory = RegistryFactory()

    def broken(rows: list[Any]) -> list[Any]:
        raise RuntimeError("boom")

    rt = SousRuntime(
        {"name": "m", "features": FEATURES},
        {CHAMPION: FakePredictor("v1", 0)},
        metrics=Metrics("m", factory),
    )
    rt.batchers[CHAMPION].fn = broken
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(rt.predict(records(1), {}, "predict"))
    assert (
        factory.registry.get_sample_value(
            "sous_requests_total",
            {
                "model": "m",
                "endpoint": "predict",
                "outcome": "error",
                "version": "v1",
                "variant": CHAMPION,
            },
        )
        == 1
    )


PII_FEATURES = [
    {"name": "email", "dtype": "str", "py": "email", "nullable": True},
    {"name": "name", "dtype": "str", "py": "name", "nullable": False},
    {"name": "x", "dtype": "float", "py": "x", "nullable": False},
]


def test_pii_feature_inputs_are_masked_like_training(monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from engine.data.pii import mask

    monkeypatch.setenv("TEST_SALT", "pepper")
    pii = {"email": "hash", "name": "redact", "ssn": "drop"}
    cfg = {"name": "m", "features": PII_FEATURES, "pii": pii, "pii_salt_env": "TEST_SALT"}
    rt = SousRuntime(cfg, {CHAMPION: FakePredictor("v1", 0)})
    recs = [
        SimpleNamespace(email="a@b.c", name="Ada", x=1.0),
        SimpleNamespace(email=None, name="Bob", x=2.0),
    ]
    trained = mask(
        pd.DataFrame({"email": ["a@b.c", None], "name": ["Ada", "Bob"], "x": [1.0, 2.0]}),
        pii,
        salt_env="TEST_SALT",
    )
    assert rt.rows(recs) == [
        [trained["email"][0], trained["name"][0], 1.0],
        [None, trained["name"][1], 2.0],  # nulls stay null
    ]


def test_pii_hashing_without_salt_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.errors import UserError

    monkeypatch.delenv("TEST_SALT", raising=False)
    cfg = {
        "name": "m",
        "features": PII_FEATURES,
        "pii": {"email": "hash"},
        "pii_salt_env": "TEST_SALT",
    }
    with pytest.raises(UserError, match="TEST_SALT"):
        SousRuntime(cfg, {CHAMPION: FakePredictor("v1", 0)})
    # redact-only needs no salt
    cfg["pii"] = {"email": "redact"}
    assert SousRuntime(cfg, {CHAMPION: FakePredictor("v1", 0)}).masks == {0: "redact"}


def test_freeze_heap_takes_loaded_objects_out_of_gc() -> None:
    import gc

    from engine.serving.runtime.service import freeze_heap

    try:
        freeze_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_metrics_keep_each_label_set_apart_when_children_are_cached() -> None:
    from engine.serving.runtime.metrics import Metrics

    factory = RegistryFactory()
    m = Metrics("m", factory)
    for version, outcome, rows in [("v1", "ok", 2), ("v1", "ok", 3), ("v2", "error", 1)]:
        m.observe(version=version, variant="champion", endpoint="predict", outcome=outcome,
                  rows=rows, seconds=0.01)  # fmt: skip
    reg = factory.registry

    def value(name: str, version: str, outcome: str) -> float | None:
        labels = {"model": "m", "version": version, "variant": "champion",
                  "endpoint": "predict", "outcome": outcome}  # fmt: skip
        return reg.get_sample_value(name, labels)

    assert value("sous_requests_total", "v1", "ok") == 2
    assert value("sous_predicted_rows_total", "v1", "ok") == 5
    assert value("sous_requests_total", "v2", "error") == 1
    assert value("sous_request_latency_seconds_count", "v2", "error") == 1
    assert value("sous_requests_total", "v2", "ok") is None
