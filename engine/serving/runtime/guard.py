"""ASGI middleware in front of the generated service: auth, payload size, JSON sanity.

Runs before BentoML parses a body, so every bad request gets a 4xx with a clear message
(BentoML would answer some of them with 500). Health, readiness and metrics stay open:
orchestrators and Prometheus probe them without a token.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/docs.json", "/schema.json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed: send finite numbers only")


class Guard:
    """Checks a bearer token (when configured), body size and JSON well-formedness."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        protected: Iterable[str] = ("/predict", "/predict_batch"),
        token_env: str | None = None,
        max_body_bytes: int = 1_048_576,
    ):
        self.app = app
        self.protected = tuple(protected)
        self.max_body_bytes = max_body_bytes
        self.token: bytes | None = None
        self.misconfigured: str | None = None
        if token_env:
            token = os.environ.get(token_env)
            if token:
                self.token = token.encode()
            else:  # fail closed: an auth-enabled service never answers without a token
                # (not an exception: Starlette builds middleware lazily, inside the lifespan,
                # where raising would make uvicorn skip start-up instead of failing loudly)
                self.misconfigured = (
                    f"auth is enabled but env var {token_env} is empty or unset on the server"
                )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.protected:
            await self.app(scope, receive, send)
            return
        if self.misconfigured:
            await _reply(send, 503, self.misconfigured)
            return
        if self.token is not None and not self._authorized(scope):
            await _reply(send, 401, "missing or invalid bearer token", auth=True)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _reply(send, 413, self._too_big())
            return
        body = await self._read(receive)
        if body is None:
            await _reply(send, 413, self._too_big())
            return
        problem = _json_problem(scope, body)
        if problem:
            await _reply(send, 400, problem)
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_big(self) -> str:
        return f"payload too large: at most {self.max_body_bytes} bytes; split the batch"

    def _authorized(self, scope: Scope) -> bool:
        value = (_header(scope, b"authorization") or "").strip()
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        return hmac.compare_digest(token.strip().encode(), self.token or b"")

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                break
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


def _json_problem(scope: Scope, body: bytes) -> str | None:
    ctype = (_header(scope, b"content-type") or "application/json").split(";")[0].strip()
    if ctype != "application/json":
        return f"unsupported content type {ctype!r}: send application/json"
    if not body.strip():
        return "empty body: send a JSON object (or a JSON list for /predict_batch)"
    try:
        json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        return "body is not UTF-8 JSON"
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError as exc:
        return f"malformed JSON: {exc}"
    return None


def _replay(body: bytes, upstream: Receive) -> Receive:
    """Hands the already-read body to the app, then passes through (e.g. disconnects)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()

    return receive


async def _reply(send: Send, status: int, message: str, *, auth: bool = False) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if auth:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
