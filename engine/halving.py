"""Successive halving (``sweep.strategy: halving``), the way scikit-learn's
``HalvingGridSearchCV`` does it, iteration by iteration on the run's own plan.

Every candidate is scored with few resources (a subsample of each CV fold, or a small
``n_estimators``); the best ``ceil(n / factor)`` by mean CV score go on to ``factor`` times
the resources, until one iteration is left. The schedule (:func:`schedule`), the survivors
(:func:`top_k`) and the subsamples (:func:`subsample`: scikit-learn's own ``resample`` with
the recipe's seed, the very calls of its ``_SubsampleMetaSplitter``) are scikit-learn's, so
the same grid, data, folds and seed give the same iterations, resources and survivors.

A subsample is its own plan node (a :class:`Rung` of folds), so a fit at a subsample is keyed
by the rung (the folds it cuts, the resources or the schedule's inputs, and the seed) and is
never taken for a full-size fit of the same params. :class:`Halving` is the model's trial
source (ask/report/tell) and its planner: it hands out one iteration's candidates, waits for
their scores, keeps the best, and says which trials were eliminated at which iteration.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.plan import Base, PlanBuilder, Ref, trial_nodes
from engine.specs import HalvingSpec, ModelSpec, RecipeSpec, SweepSpec, frozen_map, thaw
from engine.sweeps import Trial, check_sweep, grid_values, parse_search, propose

MAGIC_FACTOR = 2  # scikit-learn's: the smallest sample is n_splits * 2 (* n_classes)


@dataclass(frozen=True)
class Schedule:
    """The iterations planned before the first one runs, as ``HalvingGridSearchCV`` sets
    its ``n_resources_`` and ``n_candidates_`` (the latter assuming every kept candidate)."""

    n_resources: tuple[int, ...]
    n_candidates: tuple[int, ...]
    min_resources: int
    max_resources: int
    n_required_iterations: int
    n_possible_iterations: int

    @property
    def n_iterations(self) -> int:
        return len(self.n_resources)


def schedule(
    n_candidates: int,
    options: HalvingSpec,
    *,
    n_samples: int | None = None,
    n_splits: int = 1,
    n_classes: int | None = None,
) -> Schedule:
    """Resources and candidates per iteration (scikit-learn's ``_run_search``).

    ``n_samples``: the rows the folds span (the default ``max_resources`` with
    ``resource: n_samples``); ``n_classes`` for a classifier (the smallest sample then
    holds ``n_splits * 2`` rows per class)."""
    factor = options.factor
    sampling = options.resource == "n_samples"
    min_r: int
    if isinstance(options.min_resources, int):
        min_r = options.min_resources
    elif sampling:
        min_r = n_splits * MAGIC_FACTOR * (n_classes or 1)
    else:
        min_r = 1
    max_r = options.max_resources if options.max_resources is not None else n_samples
    if max_r is None:
        raise UserError(
            f"sweep.halving.max_resources: resource {options.resource!r} needs a maximum",
            key_path="sweep.halving.max_resources",
            hint=f"set sweep.halving.max_resources to the largest {options.resource} to try",
        )
    n_required = 1 + math.floor(math.log(n_candidates, factor))
    if options.min_resources == "exhaust":
        min_r = max(min_r, max_r // factor ** (n_required - 1))
    if min_r > max_r:
        raise UserError(
            f"sweep.halving.min_resources: {min_r} is greater than max_resources ({max_r})",
            key_path="sweep.halving.min_resources",
            hint="lower min_resources, or use min_resources: exhaust",
        )
    n_possible = 1 + math.floor(math.log(max_r // min_r, factor))
    aggressive = options.aggressive_elimination
    n_iterations = n_required if aggressive else min(n_possible, n_required)
    resources, candidates, n = [], [], n_candidates
    for itr in range(n_iterations):
        power = max(0, itr - n_required + n_possible) if aggressive else itr
        resources.append(min(int(factor**power * min_r), max_r))
        candidates.append(n)
        n = math.ceil(n / factor)
    return Schedule(tuple(resources), tuple(candidates), min_r, max_r, n_required, n_possible)


def top_k(scores: Sequence[float], k: int) -> list[int]:
    """Positions of the ``k`` best scores (higher is better), in scikit-learn's order:
    ``np.argsort`` with NaNs moved first, the last ``k`` taken (its ``_top_k``; ties are
    broken the same way because the same sort runs on the same order)."""
    arr = np.asarray(scores, dtype=float)
    order = np.roll(np.argsort(arr), np.count_nonzero(np.isnan(arr)))
    return [int(i) for i in order[-k:]]


def grid_order(
    model: ModelSpec, candidates: Sequence[Mapping[str, Any]]
) -> tuple[Mapping[str, Any], ...]:
    """The grid's candidates in scikit-learn's ``ParameterGrid`` order (params sorted by
    name, the last varying fastest): the order that breaks ties between equal scores."""
    spaces = parse_search(model)
    axes = {
        name: list(grid_values(f"models.{model.name}.search.{name}", space))
        for name, space in spaces.items()
    }

    def position(params: Mapping[str, Any]) -> tuple[int, ...]:
        return tuple(axes[name].index(params[name]) for name in sorted(axes))

    return tuple(sorted(candidates, key=position))


def most_trials(model: ModelSpec, sweep: SweepSpec, seed: int) -> int:
    """How many trials halving can run for ``model`` (for ``sous plan``, before the data
    decide the schedule): every needed iteration, each keeping ``ceil(n / factor)``."""
    n = len(propose(model, sweep, seed))
    total, needed = 0, 1 + math.floor(math.log(n, sweep.halving.factor))
    for _ in range(needed):
        total, n = total + n, math.ceil(n / sweep.halving.factor)
    return total


# ---------------------------------------------------------------- subsampled folds (steps)

Pairs = tuple[tuple[np.ndarray, np.ndarray], ...]


@dataclass(frozen=True, eq=False)
class Rung:
    """One iteration's folds, each fold's train and validation rows subsampled. Indexable
    like the folds node's output (``rung[k][0]``) and with ``train``/``valid`` like a
    holdout split, so the trial's fit nodes read it where they would read the full folds."""

    n_resources: int
    n_samples: int  # the rows the full folds span
    pairs: Pairs
    schedule: Schedule | None = None  # set on the first iteration's rung

    @property
    def fraction(self) -> float:
        return self.n_resources / self.n_samples

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.pairs[k]

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def train(self) -> np.ndarray:
        return self.pairs[0][0]

    @property
    def valid(self) -> np.ndarray:
        return self.pairs[0][1]


def _pairs(folds: Any) -> Pairs:
    """The folds node's (train, valid) pairs, or a holdout split as one pair."""
    if hasattr(folds, "train") and hasattr(folds, "valid"):
        return ((np.asarray(folds.train), np.asarray(folds.valid)),)
    return tuple((np.asarray(tr), np.asarray(va)) for tr, va in folds)


def subsample(pairs: Pairs, fraction: float, seed: int) -> Pairs:
    """Each fold's train and validation rows cut to ``fraction``, exactly as scikit-learn's
    ``_SubsampleMetaSplitter`` cuts them (``resample`` without replacement, ``seed``)."""
    from sklearn.utils import resample

    out = []
    for train, valid in pairs:
        tr = resample(train, replace=False, random_state=seed, n_samples=int(fraction * len(train)))
        va = resample(valid, replace=False, random_state=seed, n_samples=int(fraction * len(valid)))
        out.append((np.asarray(tr), np.asarray(va)))
    return tuple(out)


def first_rung(
    frame: Any,
    folds: Any,
    *,
    target: str,
    task: str,
    options: HalvingSpec,
    n_candidates: int,
    seed: int,
) -> Rung:
    """The first iteration's subsample. Its size depends on the data (the rows the folds
    span, their classes), so the schedule is worked out here and handed back with it."""
    pairs = _pairs(folds)
    rows = np.unique(np.concatenate([np.concatenate([tr, va]) for tr, va in pairs]))
    n_classes = None
    if task == "classification":
        n_classes = len(np.unique(frame[target].to_numpy()[rows]))
    plan = schedule(
        n_candidates, options, n_samples=len(rows), n_splits=len(pairs), n_classes=n_classes
    )
    first = Rung(plan.n_resources[0], len(rows), (), plan)
    return dataclasses.replace(first, pairs=subsample(pairs, first.fraction, seed))


def rung(folds: Any, *, n_resources: int, n_samples: int, seed: int, iteration: int) -> Rung:
    """A later iteration's subsample: ``n_resources`` of the ``n_samples`` rows.
    ``iteration`` keeps the rungs of an aggressive elimination's repeated first size apart
    (the same rows, but each iteration's trials are their own work, as in scikit-learn)."""
    del iteration
    out = Rung(n_resources, n_samples, ())
    return dataclasses.replace(out, pairs=subsample(_pairs(folds), out.fraction, seed))


# ---------------------------------------------------------------- the search


@dataclass(frozen=True)
class Eliminated:
    """A candidate's last trial, dropped at ``iteration`` (0-based) with ``n_resources``,
    its mean CV score there and the params it ran with."""

    trial: int
    iteration: int
    n_resources: int
    score: float | None
    params: Mapping[str, Any]


class Halving:
    """One model's successive halving: trial source (``ask``/``report``/``tell``, as
    :class:`engine.sweeps.OptunaSearch`) and planner (``plan``, as ``plan.TrialPlanner``).

    ``ask`` hands out the current iteration's candidates, then returns None while
    ``waiting`` (their scores are not all in); once they are, the best go on to the next
    iteration. Trial numbers run on across iterations; ``eliminated`` lists the trials
    dropped before the last iteration, ``final`` the last iteration's (the ones selection
    sees)."""

    adaptive = True

    def __init__(
        self,
        b: PlanBuilder,
        spec: RecipeSpec,
        base: Base,
        model: ModelSpec,
        load: Callable[[str], Any],
    ):
        assert spec.sweep is not None
        check_sweep(spec.sweep)
        self.b, self.spec, self.base, self.model, self._load = b, spec, base, model, load
        self.options = spec.sweep.halving
        self.sampling = self.options.resource == "n_samples"
        self.candidates = propose(model, spec.sweep, spec.seed)
        if self.options.candidates == "grid":
            self.candidates = grid_order(model, self.candidates)
        self.greater = spec.select.greater_is_better
        self.plan_: Schedule | None = None
        if not self.sampling:
            self.plan_ = schedule(len(self.candidates), self.options)
        self.iteration = 0
        self.current: list[int] = list(range(len(self.candidates)))  # candidate indices
        self._handed = 0
        self._numbers: list[int] = []  # this iteration's trial numbers, in candidate order
        self._scores: dict[int, float] = {}
        self._of: dict[int, tuple[int, int]] = {}  # trial number -> (iteration, candidate)
        self._rungs: dict[int, str] = {}  # iteration -> rung node key
        self._resources: dict[int, int] = {}  # iteration -> n_resources
        self.eliminated: dict[int, Eliminated] = {}
        self._final: tuple[int, ...] = ()
        self._survivors: tuple[int, ...] = ()  # the last finished iteration's kept trials
        self.done = False

    @property
    def final(self) -> tuple[int, ...]:
        """The trials selection sees: the last iteration's. If the sweep stopped early (a
        ``sweep.budget``), those of the furthest iteration with scores: its finished trials,
        else the previous iteration's survivors."""
        if self.done:
            return self._final
        told = tuple(n for n in self._numbers if n in self._scores)
        return told or self._survivors

    # -- trial source ------------------------------------------------------------------------
    @property
    def waiting(self) -> bool:
        """True while this iteration's candidates are all handed out but not all scored."""
        return not self.done and self._handed == len(self.current)

    def ask(self) -> Trial | None:
        if self.done or self._handed == len(self.current):
            return None
        cand = self.current[self._handed]
        number = len(self._of)
        self._of[number] = (self.iteration, cand)
        self._numbers.append(number)
        self._handed += 1
        return Trial(number, self._params(cand, self.iteration))

    def report(self, number: int, step: int, value: float) -> bool:
        return False  # halving eliminates whole trials between iterations, never mid-trial

    def tell(self, number: int, value: float | None, *, pruned: bool = False) -> None:
        score = math.nan if value is None or pruned else float(value)
        self._scores[number] = score if self.greater or math.isnan(score) else -score
        if self.waiting and all(n in self._scores for n in self._numbers):
            self._advance()

    def _advance(self) -> None:
        plan = self._schedule()
        scores = [self._scores[n] for n in self._numbers]
        if self.iteration + 1 >= plan.n_iterations:
            self._final = tuple(self._numbers)
            self.done = True
            return
        keep = top_k(scores, math.ceil(len(self.current) / self.options.factor))
        resources = self.resources(self.iteration)
        for pos, number in enumerate(self._numbers):
            if pos not in keep:
                score = scores[pos]
                kept = None if math.isnan(score) else (score if self.greater else -score)
                params = self._params(self.current[pos], self.iteration)
                self.eliminated[number] = Eliminated(
                    number, self.iteration, resources, kept, params
                )
        self._survivors = tuple(self._numbers[pos] for pos in keep)
        self.current = [self.current[pos] for pos in keep]
        self.iteration += 1
        self._handed, self._numbers = 0, []

    def _schedule(self) -> Schedule:
        if self.plan_ is None:  # n_samples: the first rung worked it out from the data
            self.plan_ = self._load(self._rungs[0]).schedule
            assert self.plan_ is not None
        return self.plan_

    def resources(self, iteration: int) -> int:
        """The resources of ``iteration`` (known once its rung or schedule is)."""
        if iteration not in self._resources:
            self._resources[iteration] = self._schedule().n_resources[iteration]
        return self._resources[iteration]

    def iteration_of(self, number: int) -> int:
        return self._of[number][0]

    def _params(self, cand: int, iteration: int) -> Mapping[str, Any]:
        params = self.candidates[cand]
        if self.sampling:
            return params
        return frozen_map({**thaw(params), self.options.resource: self.resources(iteration)})

    # -- planner -----------------------------------------------------------------------------
    def plan(self, t: int, params: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
        """Trial ``t``'s key and fit keys: fits on its iteration's rung (n_samples) or on
        the full folds with the resource param set."""
        base = self.base
        if self.sampling:
            rung_key = self._rung(self._of[t][0])
            if base.folds is not None:
                base = dataclasses.replace(base, folds=rung_key)
            else:
                base = dataclasses.replace(base, split=rung_key)
        return trial_nodes(self.b, self.spec, base, self.model, t, params)

    def _rung(self, iteration: int) -> str:
        if iteration in self._rungs:
            return self._rungs[iteration]
        base, spec = self.base, self.spec
        folds = Ref(base.folds) if base.folds is not None else Ref(base.split)
        if iteration == 0:
            key = self.b.add(
                f"halving:{self.model.name}:i0",
                first_rung,
                {
                    "frame": base.frame,
                    "folds": folds,
                    "target": spec.target,
                    "task": spec.task,
                    "options": self.options,
                    "n_candidates": len(self.candidates),
                    "seed": spec.seed,
                },
                label="halving",
            )
        else:
            plan = self._schedule()
            key = self.b.add(
                f"halving:{self.model.name}:i{iteration}",
                rung,
                {
                    "folds": folds,
                    "n_resources": plan.n_resources[iteration],
                    "n_samples": self._load(self._rungs[0]).n_samples,
                    "seed": spec.seed,
                    "iteration": iteration,
                },
                label="halving",
            )
        self._rungs[iteration] = key
        return key
