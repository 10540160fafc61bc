"""A model with categorical input: values it cannot score get 422 and never fail others."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from serving_support import sous_home

pytestmark = pytest.mark.slow


def _model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    df = pd.DataFrame(
        {
            "plan": ["basic", "pro", "pro", "basic"] * 10,
            "age": [20, 30, 40, 50] * 10,
            "vip": [True, False, True, False] * 10,
            "spend": [1.5, None, 3.0, 4.5] * 10,
        }
    )
    y = ["no", "yes", "yes", "no"] * 10
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="error"), ["plan"])], remainder="passthrough"
    )
    from sklearn.impute import SimpleImputer

    return make_pipeline(pre, SimpleImputer(), DecisionTreeClassifier(random_state=0)).fit(df, y)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from engine.serving import BentoServer, FeatureField, package
    from engine.specs import BentoSpec, DeploySpec

    with sous_home(tmp_path_factory.mktemp("sous")):
        est = _model()
        packaged = package(
            name="plans",
            estimator=est,
            task="classification",
            features=[
                FeatureField("plan", "str", nullable=False),
                FeatureField("age", "int"),
                FeatureField("vip", "bool"),
                FeatureField("spend", "float", nullable=True),
            ],
            classes=list(est.classes_),
            metrics={},
            labels={"recipe": "plans"},
            deploy=DeploySpec(bento=BentoSpec(name="plans")),
        )
        with BentoServer(packaged.bento_tag) as server:
            yield server.url


GOOD = {"plan": "pro", "age": 30, "vip": False, "spend": None}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(GOOD, 200, id="nullable-null"),
        pytest.param({**GOOD, "spend": 2.5}, 200, id="float"),
        pytest.param({**GOOD, "age": 30.5}, 400, id="float-for-int"),
        pytest.param({**GOOD, "age": "30"}, 400, id="string-for-int"),
        pytest.param({**GOOD, "vip": "yes"}, 400, id="string-for-bool"),
        pytest.param({**GOOD, "plan": 3}, 400, id="int-for-str"),
        pytest.param({**GOOD, "plan": None}, 400, id="null-non-nullable"),
        pytest.param({**GOOD, "age": None}, 200, id="null-imputed"),
        pytest.param({**GOOD, "plan": "enterprise"}, 422, id="unseen-category"),
    ],
)
def test_typed_fields(url: str, body: dict[str, Any], status: int) -> None:
    r = httpx.post(url + "/predict", json=body)
    assert r.status_code == status, r.text
    if status == 422:
        assert "could not score" in r.text and "enterprise" in r.text


def test_bad_category_does_not_fail_concurrent_requests(url: str) -> None:
    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            bodies = [GOOD] * 20 + [{**GOOD, "plan": "enterprise"}] + [GOOD] * 20
            rs = await asyncio.gather(*(client.post("/predict", json=b) for b in bodies))
            return [r.status_code for r in rs]

    codes = asyncio.run(main())
    assert codes.count(422) == 1 and codes.count(200) == 40
    assert httpx.get(url + "/readyz").status_code == 200


def test_deeply_nested_json(url: str) -> None:
    r = httpx.post(
        url + "/predict", content=b"[" * 100_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "nested too deeply" in r.text
