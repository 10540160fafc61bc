"""Serving hardening as plain Python: bounded refusals, methods, media types, token scopes,
log sanitising, private request logs, routing changes, the parent watchdog."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from engine.serving.runtime import logsafe
from engine.serving.runtime.guard import MAX_ERROR_BYTES, Guard
from engine.serving.runtime.reqlog import RequestLog
from engine.serving.runtime.tokens import ADMIN, PREDICT, Tokens, admin_env
from engine.serving.runtime.validate import MAX_ERRORS, schemas


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    x: float = Field(alias="x")
    plan: str = Field(alias="plan")


Records = Annotated[list[Record], Field(min_length=1, max_length=100)]
SCHEMAS = schemas(["x", "plan"], Record, Records)
GOOD = {"x": 1.0, "plan": "pro"}
SSN = "123-45-6789"


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    msg = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": msg.get("body", b"")})


def call(
    guard: Guard,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[bytes, bytes], bytes]:
    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "path": path, "headers": hdrs, "method": method}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m["body"] for m in sent[1:])


@pytest.fixture
def helper_process() -> Iterator[None]:
    from engine.serving.runtime import offload

    yield
    offload.shutdown()


def test_large_bodies_are_parsed_in_another_process(helper_process: None) -> None:
    """``json.loads`` holds the GIL: a thread would still stall the event loop."""
    from engine.serving.runtime import offload

    assert asyncio.run(offload.run(os.getpid)) != os.getpid()


def test_many_extra_keys_get_a_small_answer_without_values(helper_process: None) -> None:
    guard = Guard(_app, max_body_bytes=10**8, schemas=SCHEMAS)
    body = json.dumps({**GOOD, **{f"k{i}": SSN for i in range(100_000)}}).encode()
    status, _, out = call(guard, "/predict", body)
    assert status == 400
    assert len(out) < 2000
    answer = json.loads(out)
    assert answer["error_count"] == 100_000
    assert len(answer["errors"]) == MAX_ERRORS
    assert answer["errors"][0]["type"] == "extra_forbidden"
    assert SSN.encode() not in out


def test_many_bad_values_in_a_batch_are_capped_and_never_echoed(helper_process: None) -> None:
    guard = Guard(_app, max_body_bytes=10**8, schemas=SCHEMAS)
    body = json.dumps([{"x": SSN, "plan": 7}] * 50).encode()
    status, _, out = call(guard, "/predict_batch", body)
    assert status == 400
    answer = json.loads(out)
    assert answer["error_count"] == 100 and len(answer["errors"]) == MAX_ERRORS
    assert SSN.encode() not in out
    assert call(guard, "/predict_batch", json.dumps([GOOD]).encode())[0] == 200
    assert b"valid list" in call(guard, "/predict_batch", json.dumps(GOOD).encode())[2]


def test_media_type_is_case_insensitive_and_normalised() -> None:
    seen: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(dict(scope["headers"])[b"content-type"])
        await _app(scope, receive, send)

    guard = Guard(app, schemas=SCHEMAS)
    body = json.dumps(GOOD).encode()
    ctype = {"content-type": "Application/JSON; charset=UTF-8"}
    assert call(guard, "/predict", body, ctype)[0] == 200
    assert seen == [b"application/json; charset=UTF-8"]
    assert call(guard, "/predict", body, {"content-type": "Text/Plain"})[0] == 400


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_wrong_method_is_405_with_allow(method: str) -> None:
    guard = Guard(_app, schemas=SCHEMAS)
    status, headers, _ = call(guard, "/predict", b"", method=method)
    assert status == 405 and headers[b"allow"] == b"POST"
    status, headers, _ = call(guard, "/admin/routing", b"", method=method)
    assert status == 405 and headers[b"allow"] == b"POST"


def test_long_error_answers_of_the_app_are_cut() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 422, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * 50_000, "more_body": True})
        await send({"type": "http.response.body", "body": b"y" * 50_000})

    status, _, out = call(Guard(app), "/predict", json.dumps(GOOD).encode())
    assert status == 422 and len(out) < MAX_ERROR_BYTES
    assert b"cut (100000 bytes)" in out


def test_token_scopes() -> None:
    tokens = Tokens.from_env("T", {"T": "p1, p2", "T_ADMIN": "a1"})
    assert tokens.scopes("Bearer p1") == {PREDICT}
    assert tokens.scopes("bearer p2") == {PREDICT}
    assert tokens.scopes("Bearer a1") == {PREDICT, ADMIN}
    assert tokens.scopes("Bearer nope") == set()
    assert tokens.scopes("Basic a1") == set()
    assert tokens.scopes(None) == set()
    assert admin_env("T") == "T_ADMIN" and admin_env(None) == "SOUS_ADMIN_TOKEN"
    assert Tokens.from_env(None, {"SOUS_ADMIN_TOKEN": "a"}).scopes("Bearer a") == {PREDICT, ADMIN}


@pytest.mark.parametrize(
    ("path", "method", "auth", "status"),
    [
        pytest.param("/predict", "POST", "p", 200, id="predict-token-predicts"),
        pytest.param("/predict", "POST", "a", 200, id="admin-token-predicts"),
        pytest.param("/predict", "POST", None, 401, id="no-token"),
        pytest.param("/admin/routing", "POST", "a", 200, id="admin-routes"),
        pytest.param("/admin/routing", "POST", "p", 403, id="predict-token-may-not-route"),
        pytest.param("/admin/routing", "POST", None, 401, id="routing-needs-a-token"),
        pytest.param("/metrics", "GET", "a", 200, id="admin-reads-metrics"),
        pytest.param("/metrics", "GET", "p", 403, id="predict-token-no-metrics"),
        pytest.param("/metrics", "GET", None, 401, id="metrics-need-a-token"),
        pytest.param("/readyz", "GET", None, 200, id="probes-open"),
    ],
)
def test_scoped_guard(
    monkeypatch: pytest.MonkeyPatch, path: str, method: str, auth: str | None, status: int
) -> None:
    monkeypatch.setenv("T", "p")
    monkeypatch.setenv("T_ADMIN", "a")
    guard = Guard(_app, token_env="T", schemas=SCHEMAS, protect_metrics=True)
    headers = {"authorization": f"Bearer {auth}"} if auth else {}
    body = json.dumps(GOOD if path == "/predict" else {}).encode()
    got, _, out = call(guard, path, body if method == "POST" else b"", headers, method)
    assert got == status, out
    assert b'"a"' not in out and b'"p"' not in out


def test_admin_is_off_without_an_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOUS_ADMIN_TOKEN", raising=False)
    guard = Guard(_app, schemas=SCHEMAS)
    status, _, out = call(guard, "/admin/routing", b"{}", {"authorization": "Bearer x"})
    assert status == 403 and b"SOUS_ADMIN_TOKEN" in out
    assert call(guard, "/metrics", b"", method="GET")[0] == 200  # not protected by default
    assert call(guard, "/predict", json.dumps(GOOD).encode())[0] == 200  # auth off: open


def test_log_records_of_client_errors_lose_their_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logsafe.install()
    try:
        Record.model_validate({"x": SSN, "plan": "pro"})
    except Exception:
        logging.getLogger("bentoml.test").error("Exception on /predict [POST]", exc_info=True)
    try:
        raise RuntimeError(f"a server bug near {SSN}")
    except RuntimeError:
        logging.getLogger("bentoml.test").error("Exception on /predict [POST]", exc_info=True)
    first, second = caplog.records[-2:]
    assert SSN not in caplog.text.split("a server bug")[0]
    assert "1 validation error(s) (values not logged)" in first.getMessage()
    assert first.exc_info is None
    assert second.exc_info is not None  # a 5xx keeps its traceback for the operator


def test_request_logs_are_owner_only(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "serving" / "m" / "requests", flush_rows=1)
    log.write([{"ssn_hash": "h"}], [{"prediction": 1}], version="v1")
    files = list((tmp_path / "serving" / "m" / "requests").glob("*.parquet"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    for d in (tmp_path / "serving", tmp_path / "serving" / "m", files[0].parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_routing_changes_at_run_time() -> None:
    from test_serving_runtime import runtime

    rt, _ = runtime({"mode": "ab", "share": 0.1})
    assert rt.set_routing(share=0.5)["share"] == 0.5
    assert rt.set_routing(mode="shadow")["mode"] == "shadow"
    assert rt.routing_state()["versions"] == {"champion": "v1", "challenger": "v2"}
    with pytest.raises(ValueError, match="within"):
        rt.set_routing(share=1.5)
    with pytest.raises(ValueError, match="mode"):
        rt.set_routing(mode="canary")
    del rt.predictors["challenger"]
    with pytest.raises(ValueError, match="one version"):
        rt.set_routing(share=0.2)


WATCHED = """
import os, sys, time
from engine.serving.runtime.service import watch_parent
watch_parent(interval_s=0.1)
print("ready", flush=True)
time.sleep(60)
"""


def test_the_served_process_group_goes_when_its_parent_is_gone(tmp_path: Path) -> None:
    """A stand-in parent starts a watched child in its own group, then dies by SIGKILL."""
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    env = {**os.environ, "SOUS_PARENT_PID": str(parent.pid)}
    child = subprocess.Popen(
        [sys.executable, "-c", WATCHED],
        env=env,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        assert child.poll() is None
        parent.kill()
        parent.wait()
        assert child.wait(timeout=20) != 0  # ended by a signal, long before its sleep
    finally:
        for p in (parent, child):
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.parametrize(
    ("body", "want"),
    [
        pytest.param(b'[{"error": "bad share"}]', {"error": "bad share"}, id="list-wrapped"),
        pytest.param(
            json.dumps(
                {"error": "7 validation errors", "detail": [{"loc": ["a"], "msg": "m"}] * 7}
            ).encode(),
            {
                "error": "7 validation errors",
                "detail": "; ".join(["a: m"] * MAX_ERRORS),
                "errors": [{"loc": ["a"], "msg": "m"}] * MAX_ERRORS,
                "error_count": 7,
            },
            id="pydantic-list",
        ),
        pytest.param(b'{"error": "fine", "detail": "text"}', {"error": "fine", "detail": "text"}),
        pytest.param(b"not json", None, id="not-json"),
    ],
)
def test_error_answers_take_the_documented_shape(body: bytes, want: Any) -> None:
    from engine.serving.runtime.guard import error_shape

    assert error_shape(body) == want


def test_error_answers_of_the_app_are_reshaped() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        body = b'[{"error": "share must be within [0, 1]"}]'
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": body})

    monkey = Guard(app)
    monkey.tokens = Tokens((), (b"a",))
    status, _, out = call(monkey, "/admin/routing", b"{}", {"authorization": "Bearer a"})
    assert status == 400 and json.loads(out) == {"error": "share must be within [0, 1]"}


class NanModel:
    """Answers NaN probabilities for inputs beyond 1e300, as an overflowing model does."""

    classes_ = ["a", "b"]

    def predict(self, x: Any) -> Any:
        return ["a"] * len(x)

    def predict_proba(self, x: Any) -> Any:
        import numpy as np

        big = x["x"].to_numpy() > 1e300
        return np.where(big[:, None], np.nan, np.array([[0.9, 0.1]]))


def test_nan_probabilities_are_refused_not_served() -> None:
    from engine.serving.runtime.predictor import Predictor

    pred = Predictor(
        NanModel(), task="classification", features=[{"name": "x", "dtype": "float"}], version="v"
    )
    assert pred([[1.0]])[0]["probabilities"] == {"a": 0.9, "b": 0.1}
    with pytest.raises(ValueError, match="non-finite probabilities for 1 row"):
        pred([[1.0], [1.7e308]])


@pytest.mark.parametrize("size", [10, 1_200_000], ids=["inline", "helper-process"])
def test_batch_length_and_missing_keys_are_screened(helper_process: None, size: int) -> None:
    guard = Guard(_app, max_body_bytes=10**8, schemas=schemas(["x", "plan"], Record, Records, 100))
    pad = " " * size  # the same body, small or large enough for the helper process
    too_long = (json.dumps([GOOD] * 101) + pad).encode()
    status, _, out = call(guard, "/predict_batch", too_long)
    assert status == 400 and b"at most 100 items" in out
    status, _, out = call(guard, "/predict_batch", b"[]" + pad.encode())
    assert status == 400 and b"at least 1 item" in out
    status, _, out = call(guard, "/predict", (json.dumps({"x": 1.0}) + pad).encode())
    assert status == 400 and json.loads(out)["errors"][0]["type"] == "missing"
    status, _, out = call(guard, "/predict", (json.dumps({"x": "1", "plan": "p"}) + pad).encode())
    assert status == 400 and json.loads(out)["errors"][0]["type"] == "float_type"
    assert call(guard, "/predict", (json.dumps(GOOD) + pad).encode())[0] == 200
