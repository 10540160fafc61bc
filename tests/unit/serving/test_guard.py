"""The ASGI guard answers auth, size and JSON problems with 4xx before the app runs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from engine.serving.runtime.guard import Guard


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    msg = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": msg.get("body", b"")})


def call(
    guard: Guard, path: str, body: bytes, headers: dict[str, str] | None = None, chunks: int = 1
) -> tuple[int, bytes]:
    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "path": path, "headers": hdrs}
    size = max(1, len(body) // chunks + 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


GOOD = json.dumps({"x": 1.0}).encode()


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "needle"),
    [
        pytest.param("/predict", GOOD, {}, 200, b'"x"', id="ok"),
        pytest.param("/predict", b'{"x": ', {}, 400, b"malformed JSON", id="malformed"),
        pytest.param("/predict", b'{"x": NaN}', {}, 400, b"NaN is not allowed", id="nan"),
        pytest.param("/predict", b'{"x": -Infinity}', {}, 400, b"Infinity", id="inf"),
        pytest.param("/predict", b"", {}, 400, b"empty body", id="empty"),
        pytest.param("/predict", b"\xff\xfe", {}, 400, b"UTF-8", id="not-utf8"),
        pytest.param(
            "/predict", GOOD, {"content-type": "text/csv"}, 400, b"unsupported content", id="ctype"
        ),
        pytest.param("/predict", b"x" * 200, {}, 413, b"payload too large", id="too-big"),
        pytest.param(
            "/predict", GOOD, {"content-length": "999999"}, 413, b"too large", id="declared-big"
        ),
        pytest.param("/metrics", b"not json", {}, 200, b"not json", id="open-path"),
        pytest.param("/predict", b"[" * 50_000, {}, 400, b"nested too deeply", id="deep-nesting"),
    ],
)
def test_guard_without_auth(
    path: str, body: bytes, headers: dict[str, str], status: int, needle: bytes
) -> None:
    guard = Guard(_app, max_body_bytes=100 if len(body) < 1000 else 10**6)
    got, out = call(guard, path, body, headers)
    assert got == status
    assert needle in out


def test_streamed_body_over_limit_is_refused() -> None:
    guard = Guard(_app, max_body_bytes=100)
    assert call(guard, "/predict", b"[" + b"1," * 80 + b"1]", chunks=5)[0] == 413
    assert call(guard, "/predict", b"[1, 2, 3]", chunks=3) == (200, b"[1, 2, 3]")


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        pytest.param(None, 401, id="missing"),
        pytest.param("Bearer wrong", 401, id="wrong"),
        pytest.param("Basic s3cret", 401, id="wrong-scheme"),
        pytest.param("Bearer", 401, id="no-token"),
        pytest.param("Bearer s3cret", 200, id="valid"),
        pytest.param("bearer  s3cret", 200, id="case-and-space"),
    ],
)
def test_bearer_token(monkeypatch: pytest.MonkeyPatch, auth: str | None, status: int) -> None:
    monkeypatch.setenv("TEST_SOUS_TOKEN", "s3cret")
    guard = Guard(_app, token_env="TEST_SOUS_TOKEN")
    headers = {"authorization": auth} if auth else {}
    got, body = call(guard, "/predict", GOOD, headers)
    assert got == status
    assert b"s3cret" not in body
    # probes stay open without a token
    assert call(guard, "/readyz", b"", {})[0] == 200


def test_auth_fails_closed_when_token_env_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SOUS_TOKEN", raising=False)
    guard = Guard(_app, token_env="TEST_SOUS_TOKEN")
    status, body = call(guard, "/predict", GOOD, {"authorization": "Bearer anything"})
    assert status == 503 and b"TEST_SOUS_TOKEN" in body
    assert call(guard, "/healthz", b"", {})[0] == 200


def test_error_answers_of_prediction_paths_reach_the_sink_with_the_runtime_note() -> None:
    """Refusals by the guard, and errors of the app (with what the runtime noted: version,
    variant, outcome), are reported once each; successes and other paths are not."""
    from engine.serving.runtime import outcomes

    failures: list[outcomes.Failure] = []

    async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        note = outcomes.note()
        assert note is not None
        note.version, note.variant, note.outcome = "v7", "challenger", outcomes.ERROR
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b'{"error": "boom"}'})

    async def raising(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("the app broke")

    outcomes.register(failures.append)
    try:
        guard = Guard(_app, max_body_bytes=100)
        assert call(guard, "/predict", GOOD)[0] == 200
        assert call(guard, "/predict_batch", b'{"x": ')[0] == 400
        assert call(guard, "/metrics", b"x")[0] == 200
        assert call(Guard(failing), "/predict", GOOD)[0] == 500
        with pytest.raises(RuntimeError):
            call(Guard(raising), "/predict", GOOD)
    finally:
        outcomes.register(None)
    assert [(f.endpoint, f.status, f.outcome, f.version, f.variant) for f in failures] == [
        ("predict_batch", 400, "refused", None, "unrouted"),
        ("predict", 500, "error", "v7", "challenger"),
        ("predict", 500, "error", None, "unrouted"),
    ]
    assert all(f.latency_ms >= 0 for f in failures)
    assert outcomes.note() is None
