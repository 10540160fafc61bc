"""Bearer-token auth and masked request logs on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from serving_support import iris_data, sous_home

from engine.data.pii import hash_value

pytestmark = pytest.mark.slow

TOKEN = "t0ken-for-tests-only"
SALT = "pepper"
PII = {"email": "hash", "ssn": "drop"}  # as in the recipe's data.pii
FEATURES = [
    "sepal length (cm)",
    "sepal width (cm)",
    "petal length (cm)",
    "petal width (cm)",
    "email",
]


def _raw_frame() -> pd.DataFrame:
    x, y = iris_data()
    raw = x.copy()
    raw["email"] = [f"user{i % 7}@example.org" for i in range(len(raw))]
    raw["ssn"] = "000-00-0000"
    raw["y"] = y
    return raw


def _fit_on_masked(raw: pd.DataFrame) -> Any:
    """Train as Sous does: PII masked at load, then the pipeline sees the masked column."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from engine.data.pii import mask

    masked = mask(raw, PII, salt_env="SOUS_PII_SALT")
    pre = ColumnTransformer(
        [("e", OneHotEncoder(handle_unknown="ignore"), ["email"])], remainder="passthrough"
    )
    return make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(masked[FEATURES], masked["y"])


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from engine.serving import FeatureField, package
    from engine.specs import BentoSpec, DeploySpec

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_TEST_TOKEN=TOKEN, SOUS_PII_SALT=SALT):
        raw = _raw_frame()
        est = _fit_on_masked(raw)
        packaged = package(
            name="iris",
            estimator=est,
            task="classification",
            features=[FeatureField(c, "float") for c in FEATURES[:4]]
            + [FeatureField("email", "str")],
            classes=list(est.classes_),
            metrics={},
            labels={"recipe": "iris"},
            deploy=DeploySpec(
                bento=BentoSpec(name="iris"), auth_token_env="SOUS_TEST_TOKEN", log_requests=True
            ),
            pii=PII,
        )
        yield {"home": home, "est": est, "packaged": packaged, "raw": raw}


def _client_rows(raw: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """What a client sends: raw values, PII included."""
    sample = raw.sample(n, random_state=1)[FEATURES]
    return [
        {k: (float(v) if k != "email" else v) for k, v in r.items()}
        for r in sample.to_dict("records")
    ]


def _expected(secured: dict[str, Any], body: list[dict[str, Any]]) -> list[Any]:
    from engine.data.pii import mask

    return secured["est"].predict(mask(pd.DataFrame(body), PII, salt_env="SOUS_PII_SALT")).tolist()


def test_auth_and_logging(secured: dict[str, Any]) -> None:
    from engine.serving import BentoServer

    body = _client_rows(secured["raw"], 5)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    server = BentoServer(secured["packaged"].bento_tag)
    with server:
        url = server.url
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
            r = httpx.post(url + "/predict", json=body[0], headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in r.text
        assert httpx.post(url + "/predict_batch", json=body).status_code == 401
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert httpx.get(url + probe).status_code == 200  # probes need no token
        single = httpx.post(url + "/predict", json=body[0], headers=auth)
        assert single.status_code == 200
        r = httpx.post(url + "/predict_batch", json=body, headers=auth)
        assert r.status_code == 200 and len(r.json()) == 5
        # raw emails in, hashed before the model: the same answers as training-time masking
        assert [p["prediction"] for p in r.json()] == _expected(secured, body)
        assert TOKEN not in server.log_tail(500)  # the token is never logged
    # On shutdown the service flushes its log buffer to parquet.
    files = list((secured["home"] / "serving" / "iris" / "requests").glob("*.parquet"))
    assert files, "no request log written"
    logged = pd.concat(pd.read_parquet(f) for f in files)
    refused = logged[logged["_status"] == 401]  # logged for error rates, with no value
    assert len(refused) == 4 and set(refused["_outcome"]) == {"refused"}
    assert refused["email"].isna().all() and refused["_prediction"].isna().all()
    df = logged[logged["_status"] == 200]
    assert len(df) == 6  # one single + five batch rows; rejected requests are not predictions
    assert set(df["_endpoint"]) == {"predict", "predict_batch"}
    assert set(df["_version"]) == {secured["packaged"].version}
    want = {hash_value(r["email"], SALT.encode()) for r in body}
    assert set(df["email"]) == want  # masked with the recipe's salt, never raw
    assert not df["email"].str.contains("@").any()
    assert df["petal width (cm)"].dtype.kind == "f"  # other features stay as they were
    batch = df[df["_endpoint"] == "predict_batch"]
    assert [v.strip('"') for v in batch["_prediction"]] == _expected(secured, body)


def test_smoke_uses_the_token(secured: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.errors import UserError
    from engine.serving import smoke

    body = _client_rows(secured["raw"], 5)
    want = _expected(secured, body)
    res = smoke(
        secured["packaged"].bento_tag,
        body,
        want,
        p99_budget_ms=None,
        auth_token_env="SOUS_TEST_TOKEN",
    )
    assert res.passed, res.message
    monkeypatch.delenv("SOUS_TEST_TOKEN")
    with pytest.raises(UserError, match="SOUS_TEST_TOKEN"):
        smoke(
            secured["packaged"].bento_tag,
            body,
            want,
            p99_budget_ms=None,
            auth_token_env="SOUS_TEST_TOKEN",
        )


def test_server_refuses_to_start_without_its_token(
    secured: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.errors import UserError
    from engine.serving import BentoServer, serve

    monkeypatch.delenv("SOUS_TEST_TOKEN")
    with pytest.raises(UserError, match="SOUS_TEST_TOKEN") as info:
        BentoServer(secured["packaged"].bento_tag)
    assert info.value.key_path == "deploy.auth_token_env"
    with pytest.raises(UserError, match="SOUS_TEST_TOKEN"):
        serve(secured["packaged"].bento_tag, port=1)
    monkeypatch.setenv("SOUS_TEST_TOKEN", TOKEN)
    monkeypatch.delenv("SOUS_PII_SALT")
    with pytest.raises(UserError, match="SOUS_PII_SALT") as info:
        BentoServer(secured["packaged"].bento_tag)
    assert info.value.key_path == "data.pii_salt_env"


def test_a_service_that_cannot_start_fails_fast(
    secured: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from engine.errors import RunError
    from engine.serving import BentoServer, server

    monkeypatch.setattr(server, "check_auth_env", lambda tag, env: None)  # skip the pre-check
    monkeypatch.delenv("SOUS_TEST_TOKEN")
    t0 = time.monotonic()
    srv = BentoServer(secured["packaged"].bento_tag, ready_timeout_s=60)
    with pytest.raises(RunError, match="SOUS_TEST_TOKEN") as info, srv:
        pass
    assert "failed to start" in str(info.value)
    assert time.monotonic() - t0 < 30  # not the full ready timeout
