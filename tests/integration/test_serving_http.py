"""A packaged iris model served by a real ``bentoml serve`` process, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serving_support import iris_data, package_iris, rows, sous_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from engine.serving import BentoServer

    with sous_home(tmp_path_factory.mktemp("sous")):
        est, packaged = package_iris()
        with BentoServer(packaged.bento_tag) as server:
            yield {"est": est, "packaged": packaged, "url": server.url, "server": server}


def test_single_and_batch_match_the_in_process_model(served: dict[str, Any]) -> None:
    import pandas as pd

    body = rows(20)
    want = served["est"].predict(pd.DataFrame(body)).tolist()
    single = [httpx.post(served["url"] + "/predict", json=r).json() for r in body[:5]]
    assert [s["prediction"] for s in single] == want[:5]
    assert set(single[0]["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert single[0]["model_version"] == served["packaged"].version
    batch = httpx.post(served["url"] + "/predict_batch", json=body)
    assert batch.status_code == 200
    assert [b["prediction"] for b in batch.json()] == want


GOOD = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "needle"),
    [
        pytest.param(
            "/predict", {"json": {**GOOD, "colour": "red"}}, 400, "colour", id="extra-field"
        ),
        pytest.param(
            "/predict",
            {"json": _without("petal width (cm)")},
            400,
            "petal width (cm)",
            id="missing-field",
        ),
        pytest.param(
            "/predict",
            {"json": {**GOOD, "sepal width (cm)": "wide"}},
            400,
            "sepal width (cm)",
            id="wrong-type",
        ),
        pytest.param(
            "/predict",
            {"json": {**GOOD, "sepal width (cm)": "3.5"}},
            400,
            "sepal width (cm)",
            id="numeric-string",
        ),
        pytest.param(
            "/predict",
            {"json": {**GOOD, "sepal width (cm)": True}},
            400,
            "sepal width (cm)",
            id="bool-for-float",
        ),
        pytest.param(
            "/predict",
            {"json": {**GOOD, "sepal width (cm)": None}},
            400,
            "sepal width (cm)",
            id="null",
        ),
        pytest.param("/predict", {"content": b'{"sepal length (cm)": NaN}'}, 400, "NaN", id="nan"),
        pytest.param(
            "/predict", {"content": b'{"sepal length (cm)": Infinity}'}, 400, "Infinity", id="inf"
        ),
        pytest.param(
            "/predict",
            {"content": b'{"sepal length (cm)": 1e999}'},
            400,
            "sepal length (cm)",
            id="overflow-inf",
        ),
        pytest.param(
            "/predict", {"content": b'{"sepal length'}, 400, "malformed JSON", id="malformed"
        ),
        pytest.param("/predict", {"content": b""}, 400, "empty body", id="empty"),
        pytest.param("/predict", {"json": [GOOD]}, 400, "object", id="list-to-single"),
        pytest.param("/predict_batch", {"json": []}, 400, "at least 1", id="empty-batch"),
        pytest.param(
            "/predict_batch", {"json": [GOOD, {**GOOD, "x": 1}]}, 400, '"x"', id="batch-extra"
        ),
        pytest.param(
            "/predict_batch", {"json": [GOOD] * 10_001}, 400, "at most", id="batch-too-long"
        ),
        pytest.param(
            "/predict_batch",
            {"content": b"[" + b" " * (9 * 1024 * 1024) + b"]"},
            413,
            "too large",
            id="oversized",
        ),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem(
    served: dict[str, Any], path: str, kwargs: dict[str, Any], status: int, needle: str
) -> None:
    headers = {"content-type": "application/json"}
    r = httpx.post(served["url"] + path, headers=headers, timeout=30, **kwargs)
    assert r.status_code == status, r.text[:300]
    assert needle in r.text
    # ...and the server keeps serving
    assert httpx.post(served["url"] + "/predict", json=GOOD).status_code == 200


@pytest.mark.parametrize("probe", ["/healthz", "/readyz", "/livez"])
def test_probes(served: dict[str, Any], probe: str) -> None:
    assert httpx.get(served["url"] + probe).status_code == 200


def test_metrics_count_requests_per_version(served: dict[str, Any]) -> None:
    for _ in range(3):
        httpx.post(served["url"] + "/predict", json=GOOD)
    text = httpx.get(served["url"] + "/metrics").text
    version = served["packaged"].version
    lines = [
        ln
        for ln in text.splitlines()
        if ln.startswith("sous_requests_total{")
        and 'endpoint="predict"' in ln
        and f'version="{version}"' in ln
        and 'outcome="ok"' in ln
    ]
    assert lines and float(lines[0].rsplit(" ", 1)[1]) >= 3
    assert "sous_request_latency_seconds_bucket" in text
    assert "bentoml_service_request_total" in text  # BentoML's own metrics stay


def test_bento_records_its_model_and_labels(served: dict[str, Any]) -> None:
    from engine.serving._bentoml import bentoml

    bento = bentoml().bentos.get(served["packaged"].bento_tag)
    assert bento.info.labels["model_champion"] == served["packaged"].model_tag
    assert bento.info.labels["gate"] == "passed"
    model = bentoml().models.get(served["packaged"].model_tag)
    assert model.info.labels["run_id"] == "run-1.0"
    _, y = iris_data()
    assert len(y) == 150
