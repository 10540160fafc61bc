"""A/B split and shadow deployment of two versions in one real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from serving_support import package_iris, rows, sous_home

from engine.serving import Experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sous")
    with sous_home(home):
        est1, v1 = package_iris(c=1.0, log_requests=True)
        est2, v2 = package_iris(c=0.01)
        yield {"home": home, "est": {v1.version: est1, v2.version: est2}, "v1": v1, "v2": v2}


def _metric(text: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("sous_requests_total{") and all(
            f'{k}="{v}"' in line for k, v in labels.items()
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_ab_split_is_sticky_and_measured_per_variant(versions: dict[str, Any]) -> None:
    from engine.serving import BentoServer, package_experiment

    v1, v2 = versions["v1"], versions["v2"]
    exp = package_experiment("iris", Experiment(v1.version, v2.version, mode="ab", share=0.5))
    body = rows(40)
    with BentoServer(exp.bento_tag) as server:
        seen: dict[str, str] = {}
        for i, row in enumerate(body):
            key = f"user-{i % 10}"
            r = httpx.post(server.url + "/predict", json=row, headers={"X-Sous-Key": key})
            out = r.json()
            assert r.status_code == 200
            est = versions["est"][out["model_version"]]
            assert out["prediction"] == est.predict(pd.DataFrame([row]))[0]  # its own model
            assert seen.setdefault(key, out["variant"]) == out["variant"]  # sticky
            assert out["model_version"] == (v1 if out["variant"] == "champion" else v2).version
        assert set(seen.values()) == {"champion", "challenger"}
        text = httpx.get(server.url + "/metrics").text
    a = _metric(text, variant="champion", version=v1.version, outcome="ok")
    b = _metric(text, variant="challenger", version=v2.version, outcome="ok")
    assert a + b == 40 and a > 0 and b > 0


def test_shadow_answers_with_champion_and_logs_challenger(versions: dict[str, Any]) -> None:
    from engine.serving import BentoServer, package_experiment

    v1, v2 = versions["v1"], versions["v2"]
    exp = package_experiment("iris", Experiment(v1.version, v2.version, mode="shadow"))
    body = rows(12)
    with BentoServer(exp.bento_tag) as server:
        r = httpx.post(server.url + "/predict_batch", json=body)
        assert {p["variant"] for p in r.json()} == {"champion"}
        assert [p["prediction"] for p in r.json()] == list(
            versions["est"][v1.version].predict(pd.DataFrame(body))
        )
        for row in body[:3]:
            assert httpx.post(server.url + "/predict", json=row).json()["variant"] == "champion"
        deadline = time.monotonic() + 5  # shadow work finishes after the response
        while True:
            text = httpx.get(server.url + "/metrics").text
            shadowed = _metric(text, variant="challenger", version=v2.version, outcome="shadow")
            if shadowed == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert shadowed == 4
    logs = versions["home"] / "serving" / "iris" / "requests"
    df = pd.concat(pd.read_parquet(f) for f in logs.glob("*.parquet"))
    shadow = df[(df["_role"] == "shadow") & (df["_endpoint"] == "predict_batch")]
    assert len(shadow) == 12 and set(shadow["_version"]) == {v2.version}
    want = list(versions["est"][v2.version].predict(pd.DataFrame(body)))
    assert [p.strip('"') for p in shadow["_prediction"]] == want


@pytest.mark.parametrize(
    ("exp", "key_path"),
    [
        pytest.param(Experiment("a", "b", mode="canary"), "deploy.experiment.mode", id="mode"),
        pytest.param(Experiment("a", "b", share=1.5), "deploy.experiment.share", id="share"),
    ],
)
def test_experiment_validation(versions: dict[str, Any], exp: Experiment, key_path: str) -> None:
    from engine.errors import UserError
    from engine.serving import package_experiment

    with pytest.raises(UserError) as info:
        package_experiment("iris", exp)
    assert info.value.key_path == key_path


def test_experiment_with_unknown_version(versions: dict[str, Any]) -> None:
    from engine.errors import NotFoundError
    from engine.serving import package_experiment

    with pytest.raises(NotFoundError, match="nope"):
        package_experiment("iris", Experiment(versions["v1"].version, "nope"))
