"""What became of each prediction request, for the request log's error rates (issue 12).

The guard sees every request to a prediction endpoint and the status it was answered with,
including those it refused itself before any model ran; the runtime knows which version and
variant took a request and how scoring went. A :class:`RequestNote` set in a context variable
by the guard and filled in by the runtime joins the two; when the answer is an error, the
guard hands the note to the registered sink (the runtime's request log and metrics), which
logs one row with the status, outcome and latency and no feature value (a refused body may
hold anything).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass

OK = "ok"
FALLBACK = "fallback"  # the champion failed, the fallback version answered (HTTP 200)
REFUSED = "refused"  # 4xx before any model ran: method, auth, size, media type, validation
REJECTED = "rejected"  # 422: the model could not score well-typed input
OVERLOADED = "overloaded"  # 503: the request's deadline passed in the queue
ERROR = "error"  # 5xx: the model (or the service) failed
UNROUTED = "unrouted"  # the variant of a request refused before routing


@dataclass
class RequestNote:
    """One request's path through the service (mutable: filled in as it goes)."""

    endpoint: str
    version: str | None = None
    variant: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class Failure:
    """A prediction request answered with an error status: what the log keeps of it."""

    endpoint: str
    status: int
    outcome: str
    latency_ms: float
    version: str | None
    variant: str


CURRENT: contextvars.ContextVar[RequestNote | None] = contextvars.ContextVar(
    "sous_request_note", default=None
)
Sink = Callable[[Failure], None]
_sink: Sink | None = None


def register(sink: Sink | None) -> None:
    """Where failures go in this process (the served runtime registers itself at start-up)."""
    global _sink
    _sink = sink


def note() -> RequestNote | None:
    """The note of the request being served (None outside a guarded request)."""
    return CURRENT.get()


def outcome_of(status: int, noted: str | None) -> str:
    """The outcome of an answer with ``status``: the runtime's word when it took the request."""
    if noted is not None and noted != OK:
        return noted
    if status == 503:
        return OVERLOADED
    if status == 422:
        return REJECTED
    return REFUSED if status < 500 else ERROR


def report(n: RequestNote, status: int, latency_ms: float) -> None:
    """Hand an error answer to the sink (nothing for a success: the runtime logged it)."""
    if status < 400 or _sink is None:
        return
    _sink(
        Failure(
            endpoint=n.endpoint,
            status=status,
            outcome=outcome_of(status, n.outcome),
            latency_ms=latency_ms,
            version=n.version,
            variant=n.variant or UNROUTED,
        )
    )
