"""Readiness that checks the model, not just the process (issue 16).

Packaging stores a readiness row with the version: a typical, PII-free row built from the
version's monitoring reference (the median of each numeric feature, the most frequent
category), or plain defaults without one. ``/readyz`` answers 200 only when that row goes
through the whole serving path (the batching queue, a worker thread, the model) and is
scored: a model that fails to load its code, crashes, or a stuck batching queue makes the
server not ready, and an orchestrator stops sending it traffic. A result is kept for
:data:`TTL_S`, so probes cost at most one prediction per second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

TTL_S = 1.0
TIMEOUT_S = 10.0
DEFAULTS: Mapping[str, Any] = {
    "float": 0.0,
    "int": 0,
    "str": "",
    "bool": False,
    "datetime": "2000-01-01T00:00:00+00:00",
}

Probe = Callable[[], Awaitable[str | None]]  # None: ready; else why not
_probe: Probe | None = None
_last: tuple[float, str | None] | None = None


def readiness_row(features: Sequence[Mapping[str, Any]], reference: Any | None) -> list[Any]:
    """A row in feature order (``features``: name, dtype, nullable) that the model should
    score: from ``reference``'s distributions where it has one (never a training row, never
    a PII column's value), else a default for the dtype (None for a nullable feature)."""
    dists = getattr(reference, "features", None) or {}
    row = []
    for f in features:
        dtype, d = str(f["dtype"]), dists.get(f["name"])
        value: Any = None if f.get("nullable") else DEFAULTS.get(dtype)
        if d is not None and d.kind == "numeric" and d.edges and dtype in ("float", "int"):
            median = d.edges[len(d.edges) // 2]
            value = float(median) if dtype == "float" else round(median)
        elif d is not None and d.kind == "categorical" and d.categories:
            top = d.categories[0]
            if dtype == "str":
                value = top
            elif dtype == "bool":
                value = top == "True"
        row.append(value)
    return row


def sealed_row(row: list[Any]) -> list[Any] | str:
    """The row as stored in the model's metadata and the service config: sealed text when
    encryption at rest is on (its most frequent categories are feature values)."""
    from engine.security import at_rest

    if not at_rest.enabled():
        return row
    return at_rest.seal(json.dumps(row).encode()).decode("ascii")


def row_of(stored: Any) -> list[Any] | None:
    """The row :func:`sealed_row` stored (opened with ``$SOUS_ENCRYPTION_KEY`` if sealed)."""
    if not isinstance(stored, str):
        return None if stored is None else list(stored)
    from engine.security import at_rest

    return list(json.loads(at_rest.unseal(stored.encode(), where="the readiness row")))


def register(probe: Probe | None) -> None:
    """The served runtime's probe (one per process); None: readiness is the process's."""
    global _probe, _last
    _probe, _last = probe, None


async def check() -> str | None:
    """None when ready (or no probe is registered), else the reason (cached ``TTL_S``)."""
    global _last
    if _probe is None:
        return None
    now = time.monotonic()
    if _last is not None and now - _last[0] < TTL_S:
        return _last[1]
    problem = await _probe()
    _last = (time.monotonic(), problem)
    return problem
