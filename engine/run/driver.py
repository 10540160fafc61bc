"""Drives one plan on an executor session: shared nodes, then trials as slots free, then selection.

Trials are not submitted in batches: a static sweep (grid, random) is handed out longest fit
first (``engine/models/cost.py``), a few trials ahead of the workers, so that the last fits on
every worker are short ones and the workers finish together; a budget holds trials back in
recipe order instead; an adaptive one (optuna) asks for a new trial each time one finishes,
reports fold scores as they arrive so unpromising trials are pruned (their other folds
cancelled), and a CPU or money budget stops new trials once spent. Every trial reuses the
shared nodes (data, split, folds) by key. Nodes come from the run's :class:`Assembler`, trials
from the sweep's sources. No Dask here: only the Session protocol.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.execution import packing
from engine.execution.compile import Task, compile_plan
from engine.execution.runtime import Placement
from engine.execution.sessions import Session
from engine.halving import Halving
from engine.models.cost import fit_cost
from engine.plan import Plan, TrialPlanner
from engine.progress import Progress
from engine.run.assemble import Assembler, ModelTrials
from engine.run.record import PrunedTrial
from engine.specs import RecipeSpec, thaw
from engine.store.cache import ArtifactCache
from engine.sweeps import StaticTrials


@dataclass
class _InFlight:
    entry: ModelTrials
    number: int  # the trial's number in its source (for report / tell)
    fits: tuple[str, ...]
    order: tuple[int, int]  # (model index, trial index): the leaderboard's tie order
    params: Mapping[str, Any]
    sent: float = field(default_factory=time.perf_counter)  # when it was submitted


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
    pruned: list[PrunedTrial] = field(default_factory=list)
    stopped: str | None = None  # why the sweep stopped early, if it did
    placements: Mapping[str, Placement] = field(default_factory=dict)  # computed key -> where


class Driver:
    def __init__(
        self,
        spec: RecipeSpec,
        cache: ArtifactCache,
        session: Session,
        progress: Progress,
        slots: int,
        assembler: Assembler | None = None,
    ):
        self.spec = spec
        self.cache = cache
        self.session = session
        self.progress = progress
        self.slots = max(1, slots)
        self.assembler = assembler or Assembler(spec)
        self.b = self.assembler.builder
        self.computed: set[str] = set()
        self.finished: set[str] = set()  # keys of the tasks taken from the session
        self.cpu_s = 0.0  # CPU spent by the nodes computed so far: counted under a budget only
        self.budget = self._budget()
        self.models = _KeptModels()

    def run(self) -> RunResult:
        self._submit(self.assembler.base.keys())
        completed, pruned, stopped = self._trials()
        completed.sort(key=lambda pair: pair[0])
        trial_keys = [k for _, k in completed]
        selection = self.assembler.selection(trial_keys)
        self._submit([selection])
        self._wait_for(selection)  # its winner keys the refit and test
        if self.spec.select.tradeoff is not None:  # the cheapest within tolerance (issue 16)
            selection = self._trade_off(trial_keys, selection)
        winner = self.assembler.winner(self._value(selection))
        outputs = self.assembler.final(trial_keys, winner)
        outputs["selection"] = selection
        self._submit(outputs.values())
        self._drain()
        values = Outputs(self.cache, outputs)
        plan = self.assembler.plan(outputs, trial_keys, also=self.computed)
        placed = self.session.placements()
        return RunResult(plan, self.computed, values, pruned, stopped, placed)

    def _trade_off(self, trial_keys: list[str], selection: str) -> str:
        """Refit and measure each model's best trial, then choose (engine/run/tradeoff.py)."""
        from engine.errors import RunError
        from engine.run.tradeoff import plan_choice, plan_measure

        measuring = plan_measure(self.assembler, trial_keys, self._value(selection))
        self._submit([measuring.measure])
        self._wait_for(measuring.measure)
        chosen = plan_choice(self.assembler, selection, measuring, self.cache)
        if chosen is None:
            raise RunError("select.tradeoff: a candidate's refit is not cached", step="tradeoff")
        self._submit([chosen])
        self._wait_for(chosen)
        return chosen

    # -- submission -------------------------------------------------------------------------
    def _submit(self, targets: Any) -> None:
        compiled = compile_plan(
            self.b.nodes, self.cache, targets, known=_Known(self.session), walk_only=True
        )
        self.computed.update(t.key for t in compiled.to_compute)
        self.progress.add(len(compiled.to_compute), len(compiled.tasks) - len(compiled.to_compute))
        self.session.submit(compiled.tasks)
        self.models.hold(compiled.to_compute)

    def _value(self, key: str) -> Any:
        return self.session.value(key) if self.session.known(key) else self.cache.load(key)

    def _next(self) -> Task:
        task = self.session.next_done()
        self.finished.add(task.key)
        self.progress.task_done(task)
        for key in self.models.release(task.key):
            self.session.forget(key)
        # under a budget only: reading a node's signed meta costs a file read and an HMAC
        counted = self.budget is not None and task.mode == "compute"
        if counted and task.key in self.computed and self.cache.has(task.key):
            self.cpu_s += self.cache.meta(task.key).cpu_s
        return task

    def _wait_for(self, key: str) -> None:
        """Take finished tasks until ``key``'s is among them (at once if it was cached)."""
        while self.session.known(key) and key not in self.finished:
            self._next()

    def _drain(self) -> None:
        while self.session.has_pending():
            self._next()

    # -- trials -----------------------------------------------------------------------------
    def _limit(self, sources: list[ModelTrials], ordered: bool) -> float:
        """How many trials may be in flight: a longest-first sweep stays a few trials ahead
        of the workers (the rest wait in the driver, in order: Dask would run a whole graph
        in its own order) until a trial proves cheap (``packing.cheap``; the rest, estimated
        cheaper, need no order and go in whole, to be packed); other static sweeps
        without a budget go in whole; otherwise keep the workers just busy."""
        if ordered:
            return max(self.slots + 2, 2 * self.slots)
        adaptive = any(s.adaptive for s in sources)
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

    def _trials(self) -> tuple[list[tuple[tuple[int, int], str]], list[PrunedTrial], str | None]:
        sources = self.assembler.trials()
        order = longest_first(sources) if self.budget is None else None
        limit, budget = self._limit(sources, order is not None), self.budget
        # trial key -> the trials in flight under it (two trials with the same params are
        # the same work: one key, both finish together)
        in_flight: dict[str, list[_InFlight]] = {}
        fit_owner: dict[str, str] = {}
        completed: list[tuple[tuple[int, int], str]] = []
        pruned: list[PrunedTrial] = []
        stopped = None
        rotation = iter(order) if order is not None else _round_robin(sources)
        if order is not None:  # planned whole, handed out a few at a time: say how many
            self.progress.expect(self._to_compute(order))
        while True:
            # the trials that fit now, planned first and submitted together (one compile,
            # one graph to the scheduler), not one submission per trial; again while cached
            # trials (finished at once) leave room
            while stopped is None:
                batch: dict[str, list[_InFlight]] = {}
                while len(in_flight) + len(batch) < limit:
                    if budget is not None and self.cpu_s >= budget:
                        stopped = f"sweep budget spent ({self.cpu_s:.1f} CPU-s of {budget:.1f})"
                        self.progress.line(stopped + ": no new trials")
                        break
                    picked = next(rotation, None)
                    if picked is None:
                        break
                    entry, number, params = picked
                    key, fits = entry.planner.plan(number, params)
                    flight = _InFlight(entry, number, fits, (entry.index, number), params)
                    (in_flight if key in in_flight else batch).setdefault(key, []).append(flight)
                if not batch:
                    break
                self._submit(batch)
                cached = [key for key in batch if not self.session.known(key)]
                for key, flights in batch.items():
                    if key in cached:  # finished before it started
                        for flight in flights:
                            self._finish(flight, key, completed)
                    else:
                        in_flight[key] = flights
                        fit_owner.update({f: key for flight in flights for f in flight.fits})
                if not cached:
                    break
            if not self.session.has_pending():
                break
            task = self._next()
            if task.key in fit_owner and task.key not in in_flight:
                owner = fit_owner[task.key]
                flights = in_flight.get(owner, [])
                stop = self._prune(owner, flights[0], task.key) if len(flights) == 1 else None
                if stop is not None:
                    in_flight.pop(owner)
                    pruned.append(stop)
            elif task.key in in_flight:
                flights = in_flight.pop(task.key)
                if order is not None and packing.cheap(time.perf_counter() - flights[0].sent):
                    limit = math.inf  # cheap, and the rest are cheaper: they go in whole
                for flight in flights:
                    self._finish(flight, task.key, completed)
        self.progress.expect(0)  # every trial is in: what is left is selection onwards
        completed = _halved(sources, completed, pruned)  # successive halving (engine/halving.py)
        return completed, pruned, stopped

    def _to_compute(self, order: list[tuple[ModelTrials, int, Mapping[str, Any]]]) -> int:
        """How many tasks the whole ordered sweep will compute: every trial planned now
        (planning is remembered, so handing them out later plans nothing again), counted
        against the cache and what the session already holds."""
        keys = [entry.planner.plan(number, params)[0] for entry, number, params in order]
        compiled = compile_plan(
            self.b.nodes, self.cache, keys, known=_Known(self.session), walk_only=True
        )
        return len(compiled.to_compute)

    def _finish(
        self, flight: _InFlight, key: str, completed: list[tuple[tuple[int, int], str]]
    ) -> None:
        if flight.entry.adaptive:
            flight.entry.source.tell(flight.number, self._score(key))
        completed.append((flight.order, key))

    def _score(self, trial_key: str) -> float:
        return float(self._value(trial_key).metrics.get(self.spec.select.metric, math.nan))

    def _prune(self, trial_key: str, flight: _InFlight, fit_key: str) -> PrunedTrial | None:
        """Report a fold's score to the search; if it says stop, cancel the trial's rest
        and say what was pruned."""
        source = flight.entry.source
        if not flight.entry.adaptive or not self.spec.sweep or not self.spec.sweep.pruning:
            return None
        fold = flight.fits.index(fit_key)
        value = float(self._value(fit_key).metrics.get(self.spec.select.metric, math.nan))
        if math.isnan(value) or not source.report(flight.number, fold, value):
            return None
        rest = [f for f in flight.fits if f != fit_key and not self.cache.has(f)]
        self.session.cancel([*rest, trial_key])
        for key in [*rest, trial_key]:
            self.b.nodes.pop(key, None)
        source.tell(flight.number, None, pruned=True)
        model = flight.entry.model.name
        self.progress.line(f"pruned {model} trial t{flight.order[1]} after fold {fold}")
        return PrunedTrial(model, flight.order[1], fold=fold, score=value, params=flight.params)


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
            if task.node.hints.get("keep_model"):
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


def longest_first(
    sources: list[ModelTrials],
) -> list[tuple[ModelTrials, int, Mapping[str, Any]]] | None:
    """A static sweep's trials, the costliest fit first (``engine.models.cost.fit_cost`` of
    the model's resolved params; ties in recipe order): handed out in this order, the last
    fits on every worker are short ones. None when the order is not the driver's to choose:
    an adaptive search or successive halving asks for trials as results come in, and a
    trial that grows from another (``sweep.grow``) needs its parent first; and when every
    trial costs the same (no tree params) there is nothing to reorder."""
    trials = []
    for entry in sources:
        planner = entry.planner
        if not isinstance(entry.source, StaticTrials) or not isinstance(planner, TrialPlanner):
            return None
        if planner.parent_of:
            return None
        defaults = thaw(entry.model.params)
        for number, params in enumerate(entry.source.trials):
            cost = fit_cost({**defaults, **thaw(params)})
            trials.append((-cost, entry.index, number, entry, params))
    if len({t[0] for t in trials}) < 2:
        return None  # nothing to reorder: the sweep goes in whole
    trials.sort(key=lambda t: t[:3])
    return [(entry, number, params) for _, _, number, entry, params in trials]


def _round_robin(
    sources: list[ModelTrials],
) -> Iterator[tuple[ModelTrials, int, Mapping[str, Any]] | None]:
    """Alternate between models so that every model's trials start early. A source that
    is ``waiting`` (successive halving between iterations) has nothing now but more later:
    when every live source waits, None says "take finished tasks first"."""
    live = list(sources)
    while live:
        waiting = 0
        for entry in list(live):
            trial = entry.source.ask()
            if trial is None:
                if getattr(entry.source, "waiting", False):
                    waiting += 1
                else:
                    live.remove(entry)
                continue
            yield entry, trial.number, trial.params
        if live and waiting == len(live):
            yield None


def _halved(
    sources: list[ModelTrials],
    completed: list[tuple[tuple[int, int], str]],
    pruned: list[PrunedTrial],
) -> list[tuple[tuple[int, int], str]]:
    """Successive halving: only the last iteration's trials go to selection; a candidate
    eliminated earlier is recorded as pruned at the iteration it reached (engine/halving.py)."""
    for entry in sources:
        source = entry.source
        if not isinstance(source, Halving):
            continue
        for gone in source.eliminated.values():
            pruned.append(
                PrunedTrial(
                    entry.model.name,
                    gone.trial,
                    gone.iteration,
                    gone.n_resources,
                    score=gone.score,
                    params=gone.params,
                )
            )
        final = set(source.final)
        completed = [c for c in completed if c[0][0] != entry.index or c[0][1] in final]
    return completed
