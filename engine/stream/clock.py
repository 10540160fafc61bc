"""Where a micro-batch's time goes: per-stage durations of the last batches.

Latency at a fixed offered rate is (time waiting to be read) + (the batch's processing
time), so the stages of a batch are what to look at when p99 is too long. The consumer
marks each stage; the figures travel in its summary (``sous stream --json``) and the
benchmark prints them.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

STAGES = (
    "read",  # the source call that returned the batch (broker round trip, decoding)
    "check",  # replays dropped, schema and types checked
    "features",  # event times, lateness, window features
    "score",  # the model and the output frame
    "fence",  # (several consumers) still owning the entries
    "stage",  # the batch's files written
    "checkpoint",  # the commit point (write, fsync, rename)
    "publish",  # staged files made visible
    "ack",  # entries acknowledged at the source
    "log",  # the request log
)


@dataclass(frozen=True)
class StageFigure:
    """One stage over the recent batches, in milliseconds per batch."""

    stage: str
    mean_ms: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class BatchFigures:
    """The recent batches: how many, their mean size, and each stage's cost."""

    batches: int
    mean_events: float
    total_p50_ms: float
    total_p99_ms: float
    stages: tuple[StageFigure, ...]
    # the consumer thread's CPU time per batch: what a batch costs without waiting for a
    # core (on shared cores the wall times above include the wait; these do not)
    cpu_p50_ms: float = 0.0
    cpu_p99_ms: float = 0.0


class StageClock:
    """Durations of the last ``keep`` batches, stage by stage (a ring: bounded memory)."""

    def __init__(self, keep: int = 2000):
        self._rows: deque[tuple[int, dict[str, float]]] = deque(maxlen=keep)
        self._cpu: deque[float] = deque(maxlen=keep)
        self._current: dict[str, float] = {}
        self._t = time.perf_counter()
        self._cpu0 = time.thread_time()

    def start(self) -> None:
        self._current = {}
        self._t = time.perf_counter()
        self._cpu0 = time.thread_time()

    def mark(self, stage: str) -> None:
        """The time since the last mark is ``stage``'s (added up if marked twice)."""
        now = time.perf_counter()
        self._current[stage] = self._current.get(stage, 0.0) + (now - self._t) * 1000.0
        self._t = now

    def end(self, events: int) -> None:
        self._rows.append((events, self._current))
        self._cpu.append((time.thread_time() - self._cpu0) * 1000.0)
        self._current = {}

    def figures(self) -> BatchFigures:
        rows = list(self._rows)
        if not rows:
            return BatchFigures(0, 0.0, 0.0, 0.0, ())
        totals = sorted(sum(r.values()) for _, r in rows)
        cpu = sorted(self._cpu)
        stages = []
        for stage in STAGES:
            values = sorted(r.get(stage, 0.0) for _, r in rows)
            if any(values):
                stages.append(
                    StageFigure(
                        stage,
                        round(sum(values) / len(values), 2),
                        round(_pct(values, 50), 2),
                        round(_pct(values, 99), 2),
                    )
                )
        return BatchFigures(
            batches=len(rows),
            mean_events=round(sum(n for n, _ in rows) / len(rows), 1),
            total_p50_ms=round(_pct(totals, 50), 2),
            total_p99_ms=round(_pct(totals, 99), 2),
            stages=tuple(stages),
            cpu_p50_ms=round(_pct(cpu, 50), 2),
            cpu_p99_ms=round(_pct(cpu, 99), 2),
        )


def _pct(ordered: list[float], q: float) -> float:
    """The q-th percentile of sorted values (nearest rank)."""
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
