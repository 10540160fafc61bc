"""Plans ``select.tradeoff`` after the selection: each candidate's refit, one node that
measures them all, then the choice (see :mod:`engine.steps.tradeoff`).

The refits are the nodes a winner's refit is (:func:`engine.plan.final_nodes`), so the chosen
one is not fitted twice. The choice is keyed on the selection, the measurements, the refits'
CPU-seconds (their step rows, read from the cache) and ``select.tradeoff``: changing only the
tradeoff re-runs the choice and what depends on it (refit and test of a new winner, release),
never a fit or a measurement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.plan import Base, PlanBuilder, Ref, WinnerFit
from engine.specs import RecipeSpec
from engine.steps import tradeoff as steps
from engine.store.cache import ArtifactCache


class Assembler(Protocol):
    """What planning the tradeoff needs of :class:`engine.run.assemble.Assembler` (which calls
    in here: a Protocol, not an import, keeps the two modules out of an import cycle)."""

    spec: RecipeSpec
    base: Base
    builder: PlanBuilder
    cache: ArtifactCache

    def final(
        self, trial_keys: Iterable[str], winner: WinnerFit | None = None
    ) -> dict[str, str]: ...


@dataclass(frozen=True)
class Measuring:
    refits: tuple[str, ...]  # one per candidate, in candidate order
    measure: str


def plan_measure(assembler: Assembler, trial_keys: Iterable[str], selection: Any) -> Measuring:
    """Each candidate's refit and the one node that measures them."""
    spec, base = assembler.spec, assembler.base
    trial_keys = list(trial_keys)
    refits = []
    for row in steps.candidate_rows(selection):
        trial = selection.leaderboard[row]
        model = next(m for m in spec.models if m.name == trial.model)
        refits.append(assembler.final(trial_keys, WinnerFit(model, trial.params))["model"])
    measure = assembler.builder.add(
        "measure",
        steps.measure,
        {
            "estimators": tuple(Ref(k) for k in refits),
            "frame": base.frame,
            "idx": Ref(base.split, ("test",)),
            "features": Ref(base.features),
        },
    )
    return Measuring(tuple(refits), measure)


def plan_choice(
    assembler: Assembler, select_key: str, measuring: Measuring, cache: ArtifactCache
) -> str | None:
    """The tradeoff node, or None while a refit's CPU is not known (not yet computed)."""
    if not all(cache.has(k) for k in measuring.refits):
        return None
    cpu = tuple(round(cache.meta(k).cpu_s, 3) for k in measuring.refits)
    assert assembler.spec.select.tradeoff is not None
    return assembler.builder.add(
        "tradeoff",
        steps.trade_off,
        {
            "selection": Ref(select_key),
            "measured": Ref(measuring.measure),
            "train_cpu_s": cpu,
            "spec": assembler.spec.select.tradeoff,
        },
    )


def known_choice(assembler: Assembler, trial_keys: Iterable[str], select_key: str) -> str | None:
    """The tradeoff node over a cached selection, when its inputs are cached too (a static
    view shows the refit of what it chose); else None."""
    cache = assembler.cache
    if not cache.has(select_key):
        return None
    measuring = plan_measure(assembler, trial_keys, cache.load(select_key))
    if not cache.has(measuring.measure):
        return None
    return plan_choice(assembler, select_key, measuring, cache)
