"""The records of what ``select.tradeoff`` weighed and chose. They are part of a selection
(:class:`engine.steps.flow.Selection` carries a :class:`Tradeoff`), so they live apart from the
step that computes them (:mod:`engine.steps.tradeoff`), which reads selections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REPEATS = 5  # timed predicts per candidate (after one untimed warm-up); the median counts


@dataclass(frozen=True)
class Candidate:
    model: str
    params: Mapping[str, Any]
    score: float
    latency_ms: float  # per row
    size_mb: float
    train_cpu_s: float
    cost: float
    on_front: bool  # no other candidate scores at least as well for at most its cost
    row: int  # its leaderboard row


@dataclass(frozen=True)
class Tradeoff:
    """What the tradeoff saw and chose: every candidate (leaderboard order), the front, and
    the chosen one (``chosen`` indexes ``candidates``)."""

    metric: str
    greater_is_better: bool
    tolerance: float
    relative: bool
    weights: Mapping[str, float]
    candidates: tuple[Candidate, ...]
    chosen: int
    batch_rows: int
    repeats: int = REPEATS

    @property
    def best(self) -> Candidate:
        return self.candidates[0]
