"""``select.tradeoff``: serve the cheapest model whose score is within a tolerance of the best.

Candidates are each model's best trial (a model's other trials are not candidates: each
candidate costs a refit to measure, and the sweep already chose among a model's settings on
score; to weigh a cheaper setting of the same model, declare it as a model of its own).
Each candidate is the refit that would be served (the same node a winner's refit is, so the
chosen one's refit is reused). All candidates are measured in one task, one after the other,
single-threaded, on the same held-out batch: the per-row predict latency (the median of
``REPEATS`` timed predicts of the batch) and the pickled size. Training CPU is the refit's
step row. The cost is the declared weighted sum; the score is the selection metric's.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from engine.errors import RunError
from engine.specs import TradeoffSpec
from engine.steps.tradeoff_records import REPEATS, Candidate, Tradeoff

if TYPE_CHECKING:
    from engine.steps.flow import Selection

COSTS = ("latency_ms", "size_mb", "train_cpu_s")  # the weights select.tradeoff.cost takes
BATCH_ROWS = 1000  # at most this many held-out rows are predicted per timing


@dataclass(frozen=True)
class Measured:
    """One candidate's fitted model, measured: per-row predict milliseconds and pickled MB."""

    latency_ms: float
    size_mb: float
    rows: int  # rows in the timed batch


def candidate_rows(selection: Selection) -> tuple[int, ...]:
    """Leaderboard rows of each model's best trial (rows without a score are left out)."""
    seen: set[str] = set()
    rows = []
    for i, trial in enumerate(selection.leaderboard):
        value = trial.metrics.get(selection.metric, math.nan)
        if trial.model in seen or math.isnan(value):
            continue
        seen.add(trial.model)
        rows.append(i)
    return tuple(rows)


def pareto_front(points: Sequence[tuple[float, float]]) -> tuple[int, ...]:
    """Indices of the non-dominated ``(score, cost)`` points, higher score and lower cost
    better: a point is dominated when another scores at least as well for at most its cost
    and is strictly better on one of them."""
    out = []
    for i, (s, c) in enumerate(points):
        dominated = any(
            s2 >= s and c2 <= c and (s2 > s or c2 < c)
            for j, (s2, c2) in enumerate(points)
            if j != i
        )
        if not dominated:
            out.append(i)
    return tuple(out)


def cost_of(weights: Mapping[str, float], latency_ms: float, size_mb: float, cpu_s: float) -> float:
    values = {"latency_ms": latency_ms, "size_mb": size_mb, "train_cpu_s": cpu_s}
    return float(sum(float(w) * values[k] for k, w in weights.items()))


def within(score: float, best: float, spec: TradeoffSpec, greater_is_better: bool) -> bool:
    """Whether ``score`` gives up at most the tolerance against ``best``."""
    allowed = spec.tolerance * abs(best) if spec.relative else spec.tolerance
    loss = best - score if greater_is_better else score - best
    return loss <= allowed + 1e-12  # float noise is not a difference


def choose(
    scores: Sequence[float],
    costs: Sequence[float],
    spec: TradeoffSpec,
    greater_is_better: bool,
) -> int:
    """Index of the cheapest candidate within tolerance of the first (the best); equal
    costs go to the better score, then to the earlier (better-ranked) candidate."""
    best = scores[0]
    eligible = [i for i, s in enumerate(scores) if within(s, best, spec, greater_is_better)]
    sign = -1.0 if greater_is_better else 1.0
    return min(eligible, key=lambda i: (round(costs[i], 12), sign * scores[i], i))


def measure(
    estimators: Sequence[Any], *, frame: Any, idx: Any, features: Sequence[str]
) -> tuple[Measured, ...]:
    """Time every candidate's predict on the same held-out batch, one after the other, on
    one thread (BLAS/OpenMP pools limited to 1, ``n_jobs`` set to 1 on a copy), and weigh
    its pickle."""
    import pickle

    rows = idx[:BATCH_ROWS]
    if len(rows) == 0:
        raise RunError("select.tradeoff: no held-out rows to time predictions on", step="measure")
    batch = frame[list(features)].iloc[rows]
    out = []
    for estimator in estimators:
        blob = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        single = _one_thread(pickle.loads(blob))
        out.append(Measured(_latency_ms(single, batch), len(blob) / 1e6, len(rows)))
    return tuple(out)


def _one_thread(estimator: Any) -> Any:
    """The same model, predicting on one thread (every ``n_jobs``/``nthread`` set to 1)."""
    get = getattr(estimator, "get_params", None)
    if callable(get):
        ones = {k: 1 for k, v in get(deep=True).items() if k.rsplit("__", 1)[-1] in _THREADS}
        if ones:
            with contextlib.suppress(ValueError, TypeError):  # a wrapper that refuses them
                estimator.set_params(**ones)
    return estimator


_THREADS = frozenset({"n_jobs", "nthread", "num_threads"})


def _latency_ms(estimator: Any, batch: Any) -> float:
    import statistics
    import time

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        estimator.predict(batch)  # warm-up: lazy imports, caches
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            estimator.predict(batch)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0 / len(batch)


def trade_off(
    selection: Selection,
    *,
    measured: Sequence[Measured],
    train_cpu_s: Sequence[float],
    spec: TradeoffSpec,
) -> Selection:
    """The selection with the chosen candidate as its winner and the tradeoff recorded."""
    rows = candidate_rows(selection)
    if len(rows) != len(measured) or len(rows) != len(train_cpu_s):
        raise RunError(
            f"select.tradeoff: {len(rows)} candidates but {len(measured)} measured",
            step="tradeoff",
        )
    greater = selection.greater_is_better
    trials = [selection.leaderboard[r] for r in rows]
    scores = [float(t.metrics[selection.metric]) for t in trials]
    costs = [
        cost_of(spec.cost, m.latency_ms, m.size_mb, cpu)
        for m, cpu in zip(measured, train_cpu_s, strict=True)
    ]
    signed = [s if greater else -s for s in scores]
    front = set(pareto_front(list(zip(signed, costs, strict=True))))
    chosen = choose(scores, costs, spec, greater)
    candidates = tuple(
        Candidate(
            model=t.model,
            params=t.params,
            score=s,
            latency_ms=m.latency_ms,
            size_mb=m.size_mb,
            train_cpu_s=float(cpu),
            cost=c,
            on_front=i in front,
            row=r,
        )
        for i, (t, s, m, cpu, c, r) in enumerate(
            zip(trials, scores, measured, train_cpu_s, costs, rows, strict=True)
        )
    )
    result = Tradeoff(
        metric=selection.metric,
        greater_is_better=greater,
        tolerance=spec.tolerance,
        relative=spec.relative,
        weights=dict(spec.cost),
        candidates=candidates,
        chosen=chosen,
        batch_rows=measured[0].rows if measured else 0,
    )
    return replace(selection, chosen=rows[chosen], tradeoff=result)
