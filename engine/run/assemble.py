"""The one plan assembler: a recipe -> its plan nodes, whole or trial by trial.

``sous plan``, the fully-cached check and the driver all go through :class:`Assembler`, so
what is shown is what runs. Trials come from the sweep (:func:`engine.sweeps.trial_source`):
a static strategy's trials are known up front; an adaptive one's are proposed while the run
goes, so a static view lists them as deferred instead of planning them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.halving import Halving, most_trials
from engine.plan import (
    Base,
    Plan,
    PlanBuilder,
    SourceSalts,
    TrialPlanner,
    WinnerFit,
    base_nodes,
    final_nodes,
    select_node,
    winner_fit,
)
from engine.specs import ModelSpec, RecipeSpec
from engine.store.cache import ArtifactCache
from engine.store.fs import cache_location
from engine.sweeps import (
    OptunaSearch,
    StaticTrials,
    is_adaptive,
    is_halving,
    propose,
    trial_source,
)


@dataclass
class ModelTrials:
    """One model's trials: where they come from, and the planner that lays them out."""

    index: int  # the model's position in the recipe (the leaderboard's tie order)
    model: ModelSpec
    source: StaticTrials | OptunaSearch | Halving
    planner: TrialPlanner | Halving  # successive halving plans its own trials

    @property
    def adaptive(self) -> bool:
        return self.source.adaptive


@dataclass(frozen=True)
class Deferred:
    """Trials an adaptive sweep proposes at run time: not in a static plan."""

    model: str
    strategy: str
    max_trials: int


@dataclass(frozen=True)
class StaticPlan:
    """A recipe's plan as far as it is known before running. With deferred trials the final
    nodes (select, refit, test) are not in it: their keys depend on the trials."""

    plan: Plan
    deferred: tuple[Deferred, ...]
    at_run_time: frozenset[str] = frozenset()  # load nodes whose query runs only in a run


class Assembler:
    """Lays a recipe's nodes into one :class:`PlanBuilder`: the shared nodes at once, then
    trials as they are asked for, then the final nodes over the trials that finished."""

    def __init__(
        self,
        spec: RecipeSpec,
        salts: SourceSalts | None = None,
        cache: ArtifactCache | None = None,
    ):
        """``salts``: where the sources' fingerprints come from (``engine.run.sources``:
        a run reads each query once, ``sous plan`` runs none). ``cache`` (default: the
        home's): where a static view looks for a selection already made (its winner keys
        the refit and test)."""
        self.spec = spec
        self.salts = salts
        self.cache = cache if cache is not None else ArtifactCache(cache_location())
        self.builder = PlanBuilder(spec.name)
        self.base: Base = base_nodes(self.builder, spec, salts)

    def trials(self) -> list[ModelTrials]:
        """A fresh trial source per model (an adaptive one starts a new search)."""
        spec = self.spec
        out = []
        for index, model in enumerate(spec.models):
            if is_halving(model, spec.sweep):  # one iteration after another (engine/halving.py)
                halving = Halving(self.builder, spec, self.base, model, self.cache.load)
                out.append(ModelTrials(index, model, halving, halving))
                continue
            source = trial_source(
                model, spec.sweep, spec.seed, greater_is_better=spec.select.greater_is_better
            )
            static = source.trials if isinstance(source, StaticTrials) else ()
            planner = TrialPlanner(self.builder, spec, self.base, model, static)
            out.append(ModelTrials(index, model, source, planner))
        return out

    def selection(self, trial_keys: Iterable[str]) -> str:
        """The select node over ``trial_keys`` (a run selects before planning the refit)."""
        return select_node(self.builder, self.spec, trial_keys)

    def winner(self, selection: Any) -> WinnerFit:
        return winner_fit(selection, self.spec.models)

    def final(self, trial_keys: Iterable[str], winner: WinnerFit | None = None) -> dict[str, str]:
        """select, refit, test: the refit keyed on ``winner``'s fit when it is known (see
        :func:`engine.plan.final_nodes`), else on the selection node."""
        return final_nodes(self.builder, self.spec, self.base, list(trial_keys), winner)

    def _known_winner(self, trial_keys: Iterable[str]) -> WinnerFit | None:
        """The winner of a selection over these trials that is already in the cache."""
        key = self.selection(trial_keys)
        if self.spec.select.tradeoff is not None and self.cache.has(key):
            from engine.run.tradeoff import known_choice  # what the tradeoff chose, if cached

            key = known_choice(self, list(trial_keys), key) or ""
        return self.winner(self.cache.load(key)) if key and self.cache.has(key) else None

    def plan(
        self, outputs: Mapping[str, str], trials: Iterable[str] = (), also: Iterable[str] = ()
    ) -> Plan:
        """The plan of ``outputs`` and ``trials``: the nodes they need, plus ``also`` (e.g.
        the finished fits of pruned trials). Nodes the builder holds for another view of
        the run (the static plan's trials a budget never started) are left out."""
        base = self.base
        roles = {k: v for k, v in (("integrate", base.integrate), ("ingest", base.ingest)) if v}
        trials = tuple(trials)
        nodes = self.builder.nodes
        whole = Plan(self.spec.name, dict(nodes), {})
        needed = set(whole.upstream([*outputs.values(), *trials, *base.keys()]))
        needed |= {k for k in also if k in nodes}
        return Plan(
            self.spec.name,
            {k: n for k, n in nodes.items() if k in needed},
            dict(outputs),
            trials,
            sources=dict(base.sources),
            roles=roles,
        )

    def static(self) -> StaticPlan:
        """Every node known before running: all of them, unless a sweep is adaptive."""
        spec = self.spec
        trial_keys: list[str] = []
        deferred = []
        for model in spec.models:
            if spec.sweep is not None and is_adaptive(model, spec.sweep):
                most = spec.sweep.trials
                if is_halving(model, spec.sweep):  # every iteration's trials (engine/halving.py)
                    most = most_trials(model, spec.sweep, spec.seed)
                deferred.append(Deferred(model.name, spec.sweep.strategy, most))
                continue
            trials = propose(model, spec.sweep, spec.seed)
            planner = TrialPlanner(self.builder, spec, self.base, model, trials)
            trial_keys.extend(planner.plan(t, params)[0] for t, params in enumerate(trials))
        if deferred:
            outputs: dict[str, Any] = {
                "data": self.base.data,
                "profile": self.base.profile,
                "split": self.base.split,
                "features": self.base.features,
            }
            if self.base.folds:
                outputs["folds"] = self.base.folds
        else:
            outputs = self.final(trial_keys, self._known_winner(trial_keys))
        later = frozenset(getattr(self.salts, "keys", ()))
        return StaticPlan(self.plan(outputs, trial_keys), tuple(deferred), later)
