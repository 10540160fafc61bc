"""Staged deployment check: serve the built Bento for real and compare with the model.

The rows go through the same HTTP path a client uses (single and batch endpoints), so a
Bento that packs the wrong model, drops a dependency or mistypes a field fails here, before
any alias moves.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import RunError, UserError
from engine.serving.runtime.predictor import to_json_value
from engine.serving.types import SmokeResult

MAX_SINGLE = 200  # single-record requests timed for p99; the batch endpoint gets every row
BATCH_CHUNK = 1000


def json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON values: numpy scalars unwrapped, NaN (missing) as null."""
    return {k: to_json_value(v) for k, v in row.items()}


def same(got: Any, want: Any) -> bool:
    want = to_json_value(want)
    if isinstance(got, bool) or isinstance(want, bool):
        return got == want
    if isinstance(got, int | float) and isinstance(want, int | float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
    return bool(got == want)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[k]


def _headers(auth_token_env: str | None) -> dict[str, str]:
    if not auth_token_env:
        return {}
    token = os.environ.get(auth_token_env)
    if not token:
        raise UserError(
            f"deploy.auth_token_env names {auth_token_env}, which is empty or unset",
            key_path="deploy.auth_token_env",
            hint=f"export {auth_token_env}=<token> before running",
        )
    return {"Authorization": f"Bearer {token}"}


def smoke(
    bento_tag: str,
    rows: list[dict[str, Any]],
    expected: Sequence[Any],
    *,
    p99_budget_ms: float | None,
    auth_token_env: str | None = None,
) -> SmokeResult:
    """Serve ``bento_tag`` on loopback, post ``rows``, compare with ``expected``, stop."""
    from engine.serving.server import BentoServer, stopped_on_signals

    if len(rows) != len(expected):
        raise ValueError(f"{len(rows)} rows but {len(expected)} expected predictions")
    if not rows:
        return SmokeResult(False, None, 0, 0, "smoke test needs at least one row")
    headers = _headers(auth_token_env)
    body = [json_row(r) for r in rows]
    try:
        # smoke=True: its requests go to a log of their own, never the production one
        with stopped_on_signals(BentoServer(bento_tag, smoke=True)) as server, server:
            return _check(server.url, body, list(expected), headers, p99_budget_ms)
    except RunError as exc:
        return SmokeResult(False, None, len(rows), 0, f"server failed: {exc}")


def _check(
    url: str,
    rows: list[dict[str, Any]],
    expected: list[Any],
    headers: dict[str, str],
    budget: float | None,
) -> SmokeResult:
    import httpx

    mismatches = 0
    problems: list[str] = []
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for i, (row, want) in enumerate(zip(rows[:MAX_SINGLE], expected, strict=False)):
            t0 = time.perf_counter()
            r = client.post("/predict", json=row)
            latencies.append((time.perf_counter() - t0) * 1000.0)
            if r.status_code != 200:
                return SmokeResult(
                    False,
                    None,
                    len(rows),
                    mismatches,
                    f"/predict row {i}: HTTP {r.status_code}: {r.text[:300]}",
                )
            if not same(r.json()["prediction"], want):
                mismatches += 1
                problems.append(f"row {i}: served {r.json()['prediction']!r}, model {want!r}")
        for start in range(0, len(rows), BATCH_CHUNK):
            r = client.post("/predict_batch", json=rows[start : start + BATCH_CHUNK])
            if r.status_code != 200:
                return SmokeResult(
                    False,
                    None,
                    len(rows),
                    mismatches,
                    f"/predict_batch: HTTP {r.status_code}: {r.text[:300]}",
                )
            for j, p in enumerate(r.json()):
                if not same(p["prediction"], expected[start + j]):
                    mismatches += 1
                    problems.append(f"batch row {start + j}: served {p['prediction']!r}")
    p99 = percentile(latencies, 99)
    over = budget is not None and p99 > budget
    passed = mismatches == 0 and not over
    parts = [f"{len(rows)} rows, {len(latencies)} single requests, p99 {p99:.1f} ms"]
    if mismatches:
        parts.append(f"{mismatches} mismatches (" + "; ".join(problems[:3]) + ")")
    if over:
        parts.append(f"p99 {p99:.1f} ms over the budget of {budget} ms")
    return SmokeResult(passed, p99, len(rows), mismatches, ", ".join(parts))
