"""The serving attacks of issue 11, against a real ``bentoml serve`` over HTTP (and HTTPS).

Each test is an attack that worked before: a 6 MB body of extra keys answered with 64 MB and
80 MB of log holding the raw values, ``Application/JSON`` refused, ``GET /predict`` a 400,
no token scopes, no TLS, smoke-test traffic in the production request log.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from serving_support import iris_pipeline, package_iris, rows, sous_home

pytestmark = pytest.mark.slow

PREDICT_TOKEN = "predict-token-for-tests"
ADMIN_TOKEN = "admin-token-for-tests"
SSN = "078-05-1120"
GOOD = rows(1)[0]
P = {"Authorization": f"Bearer {PREDICT_TOKEN}"}
A = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from engine.serving import BentoServer, Experiment, package_experiment
    from engine.specs import AuthSpec

    home = tmp_path_factory.mktemp("sous")
    env = {"SOUS_H_TOKEN": PREDICT_TOKEN, "SOUS_H_TOKEN_ADMIN": ADMIN_TOKEN}
    with sous_home(home, **env):
        secure = {
            "auth_token_env": "SOUS_H_TOKEN",
            "log_requests": True,
            "auth": AuthSpec(protect_metrics=True),
        }
        _, v1 = package_iris(c=1.0, **secure)
        _, v2 = package_iris(c=0.01, **secure)
        exp = package_experiment("iris", Experiment(v1.version, v2.version, share=0.0))
        with BentoServer(exp.bento_tag) as server:
            yield {"home": home, "server": server, "url": server.url, "v1": v1, "v2": v2}


def _server_log(served: dict[str, Any]) -> str:
    path = served["server"].log_path
    return Path(path).read_text(errors="replace") if path else ""


def test_a_huge_refusal_is_small_and_logs_no_value(served: dict[str, Any]) -> None:
    """6 MB, 450,000 extra keys (one holding an SSN): a short 400, a short log, and valid
    requests sent meanwhile are answered."""
    url = served["url"]
    extra = {f"x{i:05x}": 0 for i in range(450_000)}
    extra["customer_ssn"] = SSN  # type: ignore[assignment]
    body = json.dumps({**GOOD, **extra}).encode()  # ~6 MB
    assert 5_000_000 < len(body) < 8 * 1024 * 1024
    log_before = len(_server_log(served))
    answer: dict[str, httpx.Response] = {}

    def big() -> None:
        answer["r"] = httpx.post(
            url + "/predict",
            content=body,
            headers={**P, "content-type": "application/json"},
            timeout=120,
        )

    sender = threading.Thread(target=big)
    sender.start()
    during = []
    while sender.is_alive() and len(during) < 200:
        during.append(httpx.post(url + "/predict", json=GOOD, headers=P, timeout=60).status_code)
    sender.join()
    r = answer["r"]
    assert r.status_code == 400
    assert len(r.content) < 2_000, len(r.content)  # was 64 MB
    assert r.json()["error_count"] == 450_001 and len(r.json()["errors"]) == 5
    assert SSN not in r.text
    assert during and set(during) == {200}
    added = _server_log(served)[log_before:]
    assert len(added) < 20_000, len(added)  # was ~80 MB per request
    assert SSN not in _server_log(served)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({**GOOD, "ssn": SSN}, id="extra-field"),
        pytest.param({**GOOD, "sepal width (cm)": SSN}, id="wrong-type"),
    ],
)
def test_a_rejected_value_never_reaches_answer_or_log(
    served: dict[str, Any], body: dict[str, Any]
) -> None:
    for path, payload in (("/predict", body), ("/predict_batch", [GOOD, body])):
        r = httpx.post(served["url"] + path, json=payload, headers=P)
        assert r.status_code == 400
        assert SSN not in r.text
    assert SSN not in _server_log(served)


def test_media_types_are_case_insensitive(served: dict[str, Any]) -> None:
    for ctype in ("Application/JSON", "APPLICATION/json; charset=UTF-8"):
        r = httpx.post(
            served["url"] + "/predict",
            content=json.dumps(GOOD).encode(),
            headers={**P, "Content-Type": ctype},
        )
        assert r.status_code == 200, r.text
    r = httpx.post(
        served["url"] + "/predict", content=b"a,b", headers={**P, "Content-Type": "text/csv"}
    )
    assert r.status_code == 400 and "application/json" in r.text


@pytest.mark.parametrize("path", ["/predict", "/predict_batch"])
def test_wrong_method_is_405_with_allow(served: dict[str, Any], path: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        r = httpx.request(method, served["url"] + path, headers=P)
        assert r.status_code == 405, (method, r.status_code)
        assert r.headers["allow"] == "POST"


def test_predict_scope(served: dict[str, Any]) -> None:
    url = served["url"]
    assert httpx.post(url + "/predict", json=GOOD).status_code == 401
    assert httpx.post(url + "/predict", json=GOOD, headers=P).status_code == 200
    assert httpx.post(url + "/predict", json=GOOD, headers=A).status_code == 200  # admin may too


def test_admin_scope_routes_and_reads_metrics(served: dict[str, Any]) -> None:
    url = served["url"]
    route = url + "/admin/routing"
    assert httpx.post(route, json={"share": 1.0}).status_code == 401
    r = httpx.post(route, json={"share": 1.0}, headers=P)
    assert r.status_code == 403 and PREDICT_TOKEN not in r.text
    assert httpx.post(url + "/predict", json=GOOD, headers=P).json()["variant"] == "champion"
    r = httpx.post(route, json={"share": 1.0}, headers=A)
    assert r.status_code == 200, r.text
    assert r.json()["share"] == 1.0 and r.json()["mode"] == "ab"
    try:
        out = httpx.post(url + "/predict", json=GOOD, headers=P).json()
        assert out["variant"] == "challenger" and out["model_version"] == served["v2"].version
        assert httpx.post(route, json={"share": 2.0}, headers=A).status_code == 400
        assert httpx.post(route, json={}, headers=A).json()["share"] == 1.0  # a read
    finally:
        assert httpx.post(route, json={"share": 0.0}, headers=A).status_code == 200
    assert httpx.get(url + "/metrics").status_code == 401
    assert httpx.get(url + "/metrics", headers=P).status_code == 403
    metrics = httpx.get(url + "/metrics", headers=A)
    assert metrics.status_code == 200 and "sous_requests_total" in metrics.text
    for probe in ("/healthz", "/readyz", "/livez"):
        assert httpx.get(url + probe).status_code == 200  # orchestrators need no token


def test_smoke_traffic_stays_out_of_the_production_log(served: dict[str, Any]) -> None:
    from engine.serving import smoke

    v1 = served["v1"]
    body = rows(5)
    want = iris_pipeline(1.0).predict(pd.DataFrame(body)).tolist()
    base = served["home"] / "serving" / "iris"
    before = set((base / "requests").glob("*.parquet"))
    res = smoke(v1.bento_tag, body, want, p99_budget_ms=None, auth_token_env="SOUS_H_TOKEN")
    assert res.passed, res.message
    assert set((base / "requests").glob("*.parquet")) == before
    smoke_rows = pd.concat(pd.read_parquet(f) for f in (base / "smoke-requests").glob("*.parquet"))
    assert len(smoke_rows) == 2 * len(body)  # single and batch requests of the smoke test


def test_request_logs_are_owner_only(served: dict[str, Any]) -> None:
    import stat

    base = served["home"] / "serving" / "iris"
    files = list(base.glob("*/*.parquet"))
    assert files  # written by the smoke test at least
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls(served: dict[str, Any], tmp_path: Path) -> None:
    from engine.serving import BentoServer
    from engine.serving.server import TLS

    cert, key = _self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    with BentoServer(served["v1"].bento_tag, tls=TLS.of(str(cert), str(key))) as server:
        assert server.url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=trust) as client:
            r = client.post(server.url + "/predict", json=GOOD, headers=P)
            assert r.status_code == 200 and r.json()["model_version"] == served["v1"].version
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not served on that port
            httpx.post(server.url.replace("https", "http") + "/predict", json=GOOD, headers=P)
        with pytest.raises(httpx.ConnectError):  # an untrusted certificate is refused
            httpx.post(server.url + "/predict", json=GOOD, headers=P)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    from engine.errors import UserError
    from engine.serving.server import TLS

    assert TLS.of(None, None) is None
    with pytest.raises(UserError, match="--ssl-keyfile"):
        TLS.of(str(tmp_path / "c.pem"), None)
    with pytest.raises(UserError, match="no such file"):
        TLS.of(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))


def test_exposure_is_said(served: dict[str, Any]) -> None:
    from engine.serving.server import TLS, exposure_warnings

    open_tag = package_iris(name="open")[1].bento_tag
    assert exposure_warnings(open_tag, "127.0.0.1") == []
    said = exposure_warnings(open_tag, "0.0.0.0")
    assert any("WITHOUT AUTHENTICATION" in w for w in said)
    assert any("plain HTTP" in w for w in said)
    tls = TLS("c", "k")
    secured = exposure_warnings(served["v1"].bento_tag, "0.0.0.0", tls)
    assert secured == []


def test_container_build_says_it_has_no_auth(
    served: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.serving import build

    version = package_iris(name="open")[1].version
    result = build("open", version, out_dir=tmp_path / "open")
    assert any("WITHOUT AUTHENTICATION" in w for w in result.warnings)
    assert "WARNING: this image serves /predict WITHOUT AUTHENTICATION" in capsys.readouterr().err
    assert build("iris", served["v1"].version, out_dir=tmp_path / "iris").warnings == ()


def _sous(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "engine", *args]


def test_cli_serve_over_https(served: dict[str, Any], tmp_path: Path) -> None:
    import signal
    import time

    from engine.serving.server import free_port

    cert, key = _self_signed(tmp_path)
    port = free_port()
    target = f"iris:{served['v1'].version}"
    args = ["serve", target, "--port", str(port), "--ssl-certfile", str(cert)]
    proc = subprocess.Popen(
        _sous(*args, "--ssl-keyfile", str(key)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 120
        ready = False
        while not ready and time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"https://127.0.0.1:{port}/readyz", verify=trust).is_success
            except httpx.HTTPError:
                time.sleep(0.5)
        assert ready, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ""
        r = httpx.post(f"https://127.0.0.1:{port}/predict", json=GOOD, headers=P, verify=trust)
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert proc.stdout is not None
        assert f"on https://127.0.0.1:{port}" in proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    half = subprocess.run(_sous(*args), capture_output=True, text=True, timeout=120)
    assert half.returncode == 2 and "--ssl-keyfile is missing" in half.stderr


def test_cli_serve_on_a_public_address_warns(served: dict[str, Any]) -> None:
    """192.0.2.1 (TEST-NET-1) is not this machine's: the warning is printed, then the bind
    fails, so nothing is exposed by the test."""
    open_version = package_iris(name="open")[1].version
    out = subprocess.run(
        _sous("serve", f"open:{open_version}", "--host", "192.0.2.1", "--port", "3999"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "WARNING: serving on 192.0.2.1 WITHOUT AUTHENTICATION" in out.stderr
    assert "plain HTTP" in out.stderr
    assert out.returncode != 0  # could not bind
