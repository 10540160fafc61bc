"""Bearer-token auth and masked request logs on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from serving_support import package_iris, rows, sous_home

from engine.serving.runtime.reqlog import mask_value

pytestmark = pytest.mark.slow

TOKEN = "t0ken-for-tests-only"
PII_COL = "sepal length (cm)"  # stands in for a PII column


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_TEST_TOKEN=TOKEN, SOUS_PII_SALT="pepper"):
        est, packaged = package_iris(
            auth_token_env="SOUS_TEST_TOKEN", log_requests=True, pii={PII_COL: "hash"}
        )
        yield {"home": home, "est": est, "packaged": packaged}


def test_auth_and_logging(secured: dict[str, Any]) -> None:
    from engine.serving import BentoServer

    body = rows(5)
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
        assert httpx.post(url + "/predict", json=body[0], headers=auth).status_code == 200
        r = httpx.post(url + "/predict_batch", json=body, headers=auth)
        assert r.status_code == 200 and len(r.json()) == 5
        assert TOKEN not in server.log_tail(500)  # the token is never logged
    # On shutdown the service flushes its log buffer to parquet.
    files = list((secured["home"] / "serving" / "iris" / "requests").glob("*.parquet"))
    assert files, "no request log written"
    df = pd.concat(pd.read_parquet(f) for f in files)
    assert len(df) == 6  # one single + five batch rows; rejected requests are not predictions
    assert set(df["_endpoint"]) == {"predict", "predict_batch"}
    assert set(df["_version"]) == {secured["packaged"].version}
    want = {mask_value(r[PII_COL], "hash", "pepper") for r in body}
    assert set(df[PII_COL]) == want  # masked with the recipe's salt, never raw
    assert df["petal width (cm)"].dtype.kind == "f"  # other features stay as they were
    expected = secured["est"].predict(pd.DataFrame(body)).tolist()
    batch = df[df["_endpoint"] == "predict_batch"]
    assert [v.strip('"') for v in batch["_prediction"]] == expected


def test_smoke_uses_the_token(secured: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.errors import UserError
    from engine.serving import smoke

    body = rows(5)
    want = list(secured["est"].predict(pd.DataFrame(body)))
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
