"""ASGI middleware in front of the generated service: method, auth scopes, size, media type,
and a cheap, bounded validation of the body.

Runs before BentoML parses a body, so every bad request gets a 4xx with a short answer that
never echoes a rejected value (BentoML would answer with every pydantic error, log each value,
and parse on the event loop). Large bodies are parsed and checked in a worker thread, so a
6 MB refusal does not hold up the requests around it. Health and readiness stay open for
orchestrators; ``/metrics`` too unless ``protect_metrics`` (then it takes an admin token).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from engine.serving.runtime import offload, outcomes, readiness
from engine.serving.runtime.tokens import ADMIN, PREDICT, Tokens, admin_env
from engine.serving.runtime.validate import MAX_ERRORS, BodySchema, Rejected, parse, screen

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/docs.json", "/schema.json")
ADMIN_PATHS = ("/admin/routing",)
PREDICT_PATHS = ("/predict", "/predict_batch")  # their error answers go to the request log
# Bodies up to this are checked inline (parsing 1 MiB holds the worker ~10 ms); larger ones
# in a helper process, started on the first such body (it costs a Python process).
INLINE_BYTES = 1024 * 1024
MAX_ERROR_BYTES = 8 * 1024  # an error answer of the app longer than this is cut


class Guard:
    """Checks method, bearer token and scope, body size, media type and body shape."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        protected: Iterable[str] = ("/predict", "/predict_batch"),
        token_env: str | None = None,
        max_body_bytes: int = 1_048_576,
        schemas: Mapping[str, BodySchema] | None = None,
        protect_metrics: bool = False,
    ):
        import os

        self.app = app
        self.protected = tuple(protected)
        self.max_body_bytes = max_body_bytes
        self.schemas = dict(schemas or {})
        self.protect_metrics = protect_metrics
        self.tokens = Tokens.from_env(token_env)
        self.admin_env = admin_env(token_env)
        self.auth_on = bool(token_env)
        self.misconfigured: str | None = None
        if token_env and not os.environ.get(token_env):
            # fail closed: an auth-enabled service never answers without a token
            # (not an exception: Starlette builds middleware lazily, inside the lifespan,
            # where raising would make uvicorn skip start-up instead of failing loudly)
            self.misconfigured = (
                f"auth is enabled but env var {token_env} is empty or unset on the server"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in PREDICT_PATHS and path in self.protected:
            await self._observed(scope, receive, send)
        elif path in self.protected:
            await self._predict(scope, receive, _capped(send))
        elif path in ADMIN_PATHS:
            await self._admin(scope, receive, _capped(send), ("POST",))
        elif path == "/metrics" and self.protect_metrics:
            await self._admin(scope, receive, send, ("GET",))
        elif path == "/readyz" and (problem := await readiness.check()) is not None:
            await reply(send, 503, f"not ready: {problem}")  # the model, not the process
        else:
            await self.app(scope, receive, send)

    async def _observed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A prediction request, its answer's status watched: an error answer (refused here,
        or by the app) is reported with its latency and what the runtime noted of it."""
        t0 = time.perf_counter()
        note = outcomes.RequestNote(endpoint=scope["path"].lstrip("/"))
        token = outcomes.CURRENT.set(note)
        status: int | None = None

        async def watched(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = int(msg.get("status", 200))
            await send(msg)

        try:
            await self._predict(scope, receive, _capped(watched))
        except BaseException:
            status = status or 500  # the server answers 500 for what escapes the app
            raise
        finally:
            outcomes.CURRENT.reset(token)
            if status is not None:
                outcomes.report(note, status, (time.perf_counter() - t0) * 1000.0)

    async def _predict(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await _wrong_method(scope, send, ("POST",)):
            return
        if self.misconfigured:
            await reply(send, 503, self.misconfigured)
            return
        if self.auth_on and PREDICT not in self._scopes(scope):
            await reply(send, 401, "missing or invalid bearer token", auth=True)
            return
        body = await self._body(scope, receive, send)
        if body is None:
            return
        problem = await self._check(scope["path"], body)
        if problem is not None:
            await reply_json(send, 400, problem)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _admin(
        self, scope: Scope, receive: Receive, send: Send, methods: tuple[str, ...]
    ) -> None:
        if await _wrong_method(scope, send, methods):
            return
        if not self.tokens.admin:
            await reply(send, 403, f"admin access is off: set {self.admin_env} on the server")
            return
        scopes = self._scopes(scope)
        if not scopes:
            await reply(send, 401, "missing or invalid bearer token", auth=True)
            return
        if ADMIN not in scopes:
            await reply(send, 403, "this token may not do that: an admin token is required")
            return
        if scope.get("method", "GET") == "GET":
            await self.app(scope, receive, send)
            return
        body = await self._body(scope, receive, send)
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _check(self, path: str, body: bytes) -> dict[str, Any] | None:
        """The 400 answer for ``body``, or None. Small bodies are checked inline; a large one
        is screened (JSON, shape, keys) in a helper process, since parsing it holds the GIL,
        then its values are typed in a thread."""
        schema = self.schemas.get(path)
        try:
            if len(body) <= INLINE_BYTES:
                if schema is None:
                    parse(body)
                else:
                    schema.check(body)
                return None
            if schema is None:
                await asyncio.to_thread(parse, body)
                return None
            bare = dataclasses.replace(schema, adapter=None)  # what pickles
            problem: dict[str, Any] | None = await offload.run(screen, bare, body)
            if problem is None:
                await asyncio.to_thread(schema.values, body)
            return problem
        except Rejected as exc:
            return exc.body()

    def _scopes(self, scope: Scope) -> frozenset[str]:
        return self.tokens.scopes(_header(scope, b"authorization"))

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None after answering 413 (too big) or 415 (not JSON)."""
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await reply(send, 413, self._too_big())
            return None
        problem = _normalize_media_type(scope)
        if problem:
            await reply(send, 400, problem)
            return None
        body = await self._read(receive)
        if body is None:
            await reply(send, 413, self._too_big())
        return body

    def _too_big(self) -> str:
        return f"payload too large: at most {self.max_body_bytes} bytes; split the batch"

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


async def _wrong_method(scope: Scope, send: Send, allowed: tuple[str, ...]) -> bool:
    method = scope.get("method", allowed[0])
    if method in allowed:
        return False
    await reply(
        send,
        405,
        f"method {method} not allowed here: use {' or '.join(allowed)}",
        extra=[(b"allow", ", ".join(allowed).encode())],
    )
    return True


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


def _normalize_media_type(scope: Scope) -> str | None:
    """Media types are case-insensitive (RFC 9110): accept ``Application/JSON`` and hand the
    app the lowercase form; anything but JSON is refused."""
    raw = _header(scope, b"content-type")
    if raw is None:
        return None
    media, sep, params = raw.partition(";")
    media = media.strip().lower()
    if media != "application/json":
        return f"unsupported content type {media[:100]!r}: send application/json"
    value = (media + sep + params).encode("latin-1")
    scope["headers"] = [
        (k, value if k.lower() == b"content-type" else v) for k, v in scope.get("headers", [])
    ]
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


def _capped(send: Send) -> Send:
    """An error answer of the app (status >= 400) cut to :data:`MAX_ERROR_BYTES` and put in
    the documented shape (see :func:`error_shape`)."""
    start: Message | None = None
    chunks: list[bytes] = []
    size = 0

    async def capped(msg: Message) -> None:
        nonlocal start, size
        if msg["type"] == "http.response.start":
            if msg.get("status", 200) < 400:
                await send(msg)
            else:
                start = msg
            return
        if start is None or msg["type"] != "http.response.body":
            await send(msg)
            return
        size += len(msg.get("body", b""))
        if size <= MAX_ERROR_BYTES:
            chunks.append(msg.get("body", b""))
        if msg.get("more_body", False):
            return
        first, start = start, None
        status = int(first["status"])
        body = b"".join(chunks)
        if size > MAX_ERROR_BYTES:
            head = body[:500].decode("utf-8", "replace")
            payload: dict[str, Any] | None = {"error": f"error answer cut ({size} bytes): {head}"}
        else:
            payload = error_shape(body)
        if payload is None:
            await send(first)
            await send({"type": "http.response.body", "body": body})
            return
        keep = [
            (k, v)
            for k, v in first.get("headers", [])
            if k.lower() not in (b"content-length", b"content-type")
        ]
        await reply_json(send, status, payload, keep)

    return capped


def error_shape(body: bytes) -> dict[str, Any] | None:
    """The documented error shape (``{"error": str, "detail": str}``, the OpenAPI schema
    BentoML publishes) for an app's error answer that strays from it: BentoML wraps some
    errors in a one-element list, and lists pydantic errors under ``detail``. None: keep."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0]
    elif not isinstance(value, dict):
        return None
    detail = value.get("detail")
    if detail is not None and not isinstance(detail, str):
        items = detail if isinstance(detail, list) else [detail]
        value["errors"] = items[:MAX_ERRORS]
        value["error_count"] = len(items)
        value["detail"] = "; ".join(_describe(e) for e in items[:MAX_ERRORS])
    if not isinstance(value.get("error"), str):
        value["error"] = str(value.get("error", "request refused"))
    return dict(value)


def _describe(error: Any) -> str:
    if isinstance(error, dict) and "msg" in error:
        loc = ".".join(str(p) for p in error.get("loc", ()))
        return f"{loc}: {error['msg']}" if loc else str(error["msg"])
    return str(error)[:200]


async def reply(
    send: Send,
    status: int,
    message: str,
    *,
    auth: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"www-authenticate", b"Bearer")] if auth else []
    await reply_json(send, status, {"error": message}, headers + (extra or []))


async def reply_json(
    send: Send,
    status: int,
    payload: Mapping[str, Any],
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
