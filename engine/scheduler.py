"""Drives one run on an executor session: shared nodes, then trials as slots free, then selection.

Trials are not submitted in batches: a static sweep (grid, random) goes in whole unless a budget
asks to hold trials back; an adaptive one (optuna) asks for a new trial each time one finishes,
reports fold scores as they arrive so unpromising trials are pruned (their other folds
cancelled), and a CPU or money budget stops new trials once spent. Every trial reuses the
shared nodes (data, split, folds) by key. No Dask here: only the Session protocol.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.compile import Task, compile_plan
from engine.executors import Session
from engine.plan import Base, Plan, PlanBuilder, TrialPlanner, base_nodes, final_nodes
from engine.progress import Progress
from engine.specs import ModelSpec, RecipeSpec
from engine.store.cache import ArtifactCache


@dataclass
class _TrialSource:
    """Where one model's trials come from: a fixed list, or an optuna search."""

    model: ModelSpec
    planner: TrialPlanner  # static trials may grow one another
    static: deque[Mapping[str, Any]] | None = None
    search: Any = None  # engine.sweeps.OptunaSearch
    next_t: int = 0

    def ask(self) -> tuple[int, Mapping[str, Any], int | None] | None:
        t = self.next_t
        if self.static is not None:
            if not self.static:
                return None
            self.next_t += 1
            return t, self.static.popleft(), None
        trial = self.search.ask()
        if trial is None:
            return None
        self.next_t += 1
        return t, trial.params, trial.number


@dataclass
class _InFlight:
    source: _TrialSource
    number: int | None
    fits: tuple[str, ...]
    order: tuple[int, int]  # (model index, trial index): the leaderboard's tie order


class Outputs(Mapping[str, Any]):
    """The run's outputs by role, read from the cache only when asked for: every node's
    output is persisted before it counts as done, so nothing is gathered from the workers
    that the run record or the release does not use (the data frame, mostly)."""

    def __init__(self, cache: ArtifactCache, keys: Mapping[str, str]):
        self.cache = cache
        self.by_role = dict(keys)
        self.loaded: dict[str, Any] = {}  # by key

    def __getitem__(self, role: str) -> Any:
        key = self.by_role[role]
        if key not in self.loaded:
            self.loaded[key] = self.cache.load(key)
        return self.loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_role)

    def __len__(self) -> int:
        return len(self.by_role)


@dataclass
class RunResult:
    plan: Plan
    computed: set[str]
    outputs: Mapping[str, Any]
    pruned: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None  # why the sweep stopped early, if it did


class Driver:
    def __init__(
        self,
        spec: RecipeSpec,
        cache: ArtifactCache,
        session: Session,
        progress: Progress,
        slots: int,
    ):
        self.spec = spec
        self.cache = cache
        self.session = session
        self.progress = progress
        self.slots = max(1, slots)
        self.b = PlanBuilder(spec.name)
        self.computed: set[str] = set()
        self.cpu_s = 0.0
        self.models = _KeptModels()

    def run(self) -> RunResult:
        base = base_nodes(self.b, self.spec)
        self._submit(base.keys())
        completed, pruned, stopped = self._trials(base)
        completed.sort(key=lambda pair: pair[0])
        outputs = final_nodes(self.b, self.spec, base, [k for _, k in completed])
        self._submit(outputs.values())
        self._drain()
        values = Outputs(self.cache, outputs)
        plan = Plan(self.spec.name, dict(self.b.nodes), outputs, tuple(k for _, k in completed))
        return RunResult(plan, self.computed, values, pruned, stopped)

    # -- submission -------------------------------------------------------------------------
    def _submit(self, targets: Any) -> None:
        compiled = compile_plan(self.b.nodes, self.cache, targets, known=_Known(self.session))
        self.computed.update(t.key for t in compiled.to_compute)
        self.progress.add(len(compiled.to_compute), len(compiled.tasks) - len(compiled.to_compute))
        self.session.submit(compiled.tasks)
        self.models.hold(compiled.to_compute)

    def _value(self, key: str) -> Any:
        return self.session.value(key) if self.session.known(key) else self.cache.load(key)

    def _next(self) -> Task:
        task = self.session.next_done()
        self.progress.task_done(task)
        for key in self.models.release(task.key):
            self.session.forget(key)
        if task.mode == "compute" and task.key in self.computed and self.cache.has(task.key):
            self.cpu_s += self.cache.meta(task.key).cpu_s
        return task

    def _drain(self) -> None:
        while self.session.has_pending():
            self._next()

    # -- trials -----------------------------------------------------------------------------
    def _sources(self, base: Base) -> list[_TrialSource]:
        from engine.api import propose_trials

        sweep = self.spec.sweep
        static = propose_trials(self.spec) if sweep and sweep.strategy != "optuna" else None
        sources = []
        for model in self.spec.models:
            if sweep and sweep.strategy == "optuna" and model.search:
                from engine.sweeps import OptunaSearch

                search = OptunaSearch(
                    model,
                    sweep,
                    self.spec.seed,
                    greater_is_better=self.spec.select.greater_is_better,
                )
                planner = TrialPlanner(self.b, self.spec, base, model)
                sources.append(_TrialSource(model, planner, search=search))
            else:
                params = (static or {}).get(model.name) or (model.params,)
                planner = TrialPlanner(self.b, self.spec, base, model, params)
                sources.append(_TrialSource(model, planner, static=deque(params)))
        return sources

    def _limit(self, sources: list[_TrialSource]) -> float:
        """Static sweeps without a budget go in whole; otherwise keep the workers just busy."""
        adaptive = any(s.search is not None for s in sources)
        if not adaptive and not self._budget():
            return math.inf
        return self.slots + 1

    def _budget(self) -> float | None:
        """The sweep's budget in CPU-seconds (``cpu_hours``, or ``money`` at the CPU price)."""
        sweep = self.spec.sweep
        if sweep is None or not sweep.budget:
            return None
        if "cpu_hours" in sweep.budget:
            return float(sweep.budget["cpu_hours"]) * 3600.0
        if "money" in sweep.budget:
            return float(sweep.budget["money"]) / self.spec.cost.cpu_hour * 3600.0
        return None

    def _trials(
        self, base: Base
    ) -> tuple[list[tuple[tuple[int, int], str]], list[dict[str, Any]], str | None]:
        sources = self._sources(base)
        limit, budget = self._limit(sources), self._budget()
        in_flight: dict[str, _InFlight] = {}
        fit_owner: dict[str, str] = {}
        completed: list[tuple[tuple[int, int], str]] = []
        pruned: list[dict[str, Any]] = []
        stopped = None
        rotation = _round_robin(sources)
        while True:
            while len(in_flight) < limit and stopped is None:
                if budget is not None and self.cpu_s >= budget:
                    stopped = f"sweep budget spent ({self.cpu_s:.1f} CPU-s of {budget:.1f})"
                    self.progress.line(stopped + ": no new trials")
                    break
                picked = next(rotation, None)
                if picked is None:
                    break
                index, source, (t, params, number) = picked
                key, fits = source.planner.plan(t, params)
                flight = _InFlight(source, number, fits, (index, t))
                self._submit([key])
                if not self.session.known(key):  # cached: finished before it started
                    self._finish(flight, key, completed)
                    continue
                in_flight[key] = flight
                fit_owner.update({f: key for f in fits})
            if not self.session.has_pending():
                break
            task = self._next()
            if task.key in fit_owner and task.key not in in_flight:
                owner = fit_owner[task.key]
                if owner in in_flight and self._prune(owner, in_flight[owner], task.key):
                    flight = in_flight.pop(owner)
                    pruned.append({"model": flight.source.model.name, "trial": flight.order[1]})
            elif task.key in in_flight:
                self._finish(in_flight.pop(task.key), task.key, completed)
        return completed, pruned, stopped

    def _finish(
        self, flight: _InFlight, key: str, completed: list[tuple[tuple[int, int], str]]
    ) -> None:
        if flight.number is not None:
            flight.source.search.tell(flight.number, self._score(key))
        completed.append((flight.order, key))

    def _score(self, trial_key: str) -> float:
        return float(self._value(trial_key).metrics.get(self.spec.select.metric, math.nan))

    def _prune(self, trial_key: str, flight: _InFlight, fit_key: str) -> bool:
        """Report a fold's score to the search; if it says stop, cancel the trial's rest."""
        if flight.number is None or not self.spec.sweep or not self.spec.sweep.pruning:
            return False
        fold = flight.fits.index(fit_key)
        value = float(self._value(fit_key).metrics.get(self.spec.select.metric, math.nan))
        if math.isnan(value) or not flight.source.search.report(flight.number, fold, value):
            return False
        rest = [f for f in flight.fits if f != fit_key and not self.cache.has(f)]
        self.session.cancel([*rest, trial_key])
        for key in [*rest, trial_key]:
            self.b.nodes.pop(key, None)
        flight.source.search.tell(flight.number, None, pruned=True)
        self.progress.line(
            f"pruned {flight.source.model.name} trial t{flight.order[1]} after fold {fold}"
        )
        return True


class _KeptModels:
    """Fits that keep their fitted model in worker memory, for the trials that grow from
    them (``keep_model``), and the submitted tasks that read them. Once every reader is done
    the model is let go; a reader submitted later loads the fit from the cache, without its
    model, and fits from scratch (same scores)."""

    def __init__(self) -> None:
        self.readers: dict[str, set[str]] = {}  # kept fit -> readers still to finish
        self.reads: dict[str, list[str]] = {}  # reader -> kept fits it reads

    def hold(self, tasks: Iterable[Task]) -> None:
        for task in tasks:
            if task.node.params.get("keep_model"):
                self.readers.setdefault(task.key, set())
        for task in tasks:
            kept = [d for d in task.node.deps if d in self.readers]
            for key in kept:
                self.readers[key].add(task.key)
            if kept:
                self.reads[task.key] = kept

    def release(self, done: str) -> list[str]:
        """The kept fits nobody reads any more, now that ``done`` finished."""
        free = []
        for key in self.reads.pop(done, ()):
            readers = self.readers.get(key)
            if readers is not None:
                readers.discard(done)
                if not readers:
                    del self.readers[key]
                    free.append(key)
        return free


class _Known:
    """``in`` asks the session whether a key was already submitted."""

    def __init__(self, session: Session):
        self.session = session

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.session.known(key)


def _round_robin(
    sources: list[_TrialSource],
) -> Iterator[tuple[int, _TrialSource, tuple[int, Mapping[str, Any], int | None]]]:
    """Alternate between models so that every model's trials start early."""
    live = list(enumerate(sources))
    while live:
        for entry in list(live):
            index, source = entry
            asked = source.ask()
            if asked is None:
                live.remove(entry)
                continue
            yield index, source, asked
