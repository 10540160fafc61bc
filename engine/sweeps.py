"""Search spaces and sweep strategies: propose the params of every trial, never execute.

A model's ``search`` maps a constructor param to a space::

    n_estimators: {int: [50, 500]}                 # uniform integers, bounds included
    learning_rate: {loguniform: [1e-4, 1e-1]}     # same as {float: [...], log: true}
    subsample: {float: [0.5, 1.0], step: 0.1}     # step (or num) makes a range griddable
    max_depth: {choice: [null, 5, 10]}            # a bare list means choice too

``grid`` and ``random`` are static: :func:`propose` returns every trial up front, so the
planner can lay all of them into one graph. ``halving`` (successive halving, as scikit-learn's
``HalvingGridSearchCV``) proposes its candidates here and runs them iteration by iteration
in :mod:`engine.halving`. ``optuna`` is adaptive: :class:`OptunaSearch`
asks for one trial at a time and learns from each result, so the executor can start a new
trial as soon as a slot frees instead of waiting for a batch. :func:`trial_source` is the
one door for both: the run asks it for trials and never looks at the strategy.
"""

from __future__ import annotations

import difflib
import itertools
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from engine import studies
from engine.errors import Problem, RecipeError, UserError
from engine.specs import ModelSpec, SweepSpec, frozen_map, thaw

if TYPE_CHECKING:
    import optuna

STRATEGIES: tuple[str, ...] = ("grid", "random", "optuna", "halving")
KINDS: tuple[str, ...] = ("int", "float", "loguniform", "choice")
OPTIONS: tuple[str, ...] = ("log", "step", "num")
_MAX_DRAWS_PER_TRIAL = 20  # random search retries a duplicate draw at most this often


@dataclass(frozen=True)
class IntSpace:
    low: int
    high: int
    log: bool = False
    step: int | None = None
    num: int | None = None


@dataclass(frozen=True)
class FloatSpace:
    low: float
    high: float
    log: bool = False
    step: float | None = None
    num: int | None = None


@dataclass(frozen=True)
class ChoiceSpace:
    options: tuple[Any, ...]


Space = IntSpace | FloatSpace | ChoiceSpace


@dataclass(frozen=True)
class Trial:
    """One trial of an adaptive search: its number (for ``tell``/``report``) and full params."""

    number: int
    params: Mapping[str, Any]


# ---------------------------------------------------------------- parsing + validation


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(options)}"


def _bounds(path: str, kind: str, raw: Any) -> tuple[Any, Any] | Problem:
    if not (isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) == 2):
        return Problem(path, f"{kind} range needs two bounds", "[low, high]", repr(thaw(raw)))
    lo, hi = raw
    if not (_is_number(lo) and _is_number(hi)):
        return Problem(path, "range bounds must be numbers", "[low, high]", repr(thaw(raw)))
    if kind == "int" and not (float(lo).is_integer() and float(hi).is_integer()):
        hint = "use {float: [low, high]} for real values"
        return Problem(path, "int range needs whole bounds", "integers", repr(thaw(raw)), hint)
    if lo > hi or (lo == hi and kind != "int"):
        return Problem(path, "range is empty", "low < high", repr(thaw(raw)), "swap the bounds")
    return lo, hi


def _check_options(path: str, spec: Mapping[str, Any], log: bool, lo: float) -> list[Problem]:
    problems = []
    step, num = spec.get("step"), spec.get("num")
    if step is not None and (not _is_number(step) or step <= 0):
        problems.append(
            Problem(f"{path}.step", "step must be a positive number", "> 0", repr(step))
        )
    if num is not None and (not isinstance(num, int) or isinstance(num, bool) or num < 1):
        problems.append(Problem(f"{path}.num", "num must be a positive int", ">= 1", repr(num)))
    if step is not None and num is not None:
        problems.append(Problem(path, "give step or num, not both", "one of them", "both"))
    if log and lo <= 0:
        problems.append(Problem(path, "a log range needs low > 0", "low > 0", repr(lo)))
    if log and step is not None:
        problems.append(Problem(path, "a log range cannot have a step", "num", "step"))
    return problems


def _parse_one(path: str, raw: Any) -> Space | list[Problem]:
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        raw = {"choice": raw}
    if not isinstance(raw, Mapping):
        hint = "write e.g. {int: [1, 10]}, {float: [0.0, 1.0]}, {loguniform: [1e-4, 1]} or {choice: [a, b]}"
        return [Problem(path, "a search space must be a mapping", "{KIND: ...}", repr(raw), hint)]
    kinds = [k for k in raw if k in KINDS]
    unknown = [k for k in raw if k not in KINDS and k not in OPTIONS]
    problems = [
        Problem(
            f"{path}.{k}", f"unknown search key {k!r}", None, None, _suggest(k, KINDS + OPTIONS)
        )
        for k in unknown
    ]
    if len(kinds) != 1:
        got = ", ".join(kinds) or "none"
        problems.append(
            Problem(path, "a search space needs exactly one kind", " | ".join(KINDS), got)
        )
        return problems
    kind = kinds[0]
    if kind == "choice":
        opts = raw["choice"]
        if not (isinstance(opts, Sequence) and not isinstance(opts, str) and len(opts) > 0):
            problems.append(
                Problem(
                    f"{path}.choice", "choice needs a non-empty list", "[a, b, ...]", repr(opts)
                )
            )
        return problems or ChoiceSpace(tuple(opts))
    bounds = _bounds(f"{path}.{kind}", kind, raw[kind])
    if isinstance(bounds, Problem):
        return [*problems, bounds]
    log = kind == "loguniform" or bool(raw.get("log", False))
    problems += _check_options(path, raw, log, bounds[0])
    if problems:
        return problems
    if kind == "int":
        step = raw.get("step")
        return IntSpace(
            int(bounds[0]), int(bounds[1]), log, None if step is None else int(step), raw.get("num")
        )
    return FloatSpace(float(bounds[0]), float(bounds[1]), log, raw.get("step"), raw.get("num"))


def search_problems(model: ModelSpec, sweep: SweepSpec | None = None) -> tuple[Problem, ...]:
    """Every problem of ``model.search`` (for the recipe validator, which lists all at once);
    with a grid ``sweep``, also every range that has no ``step`` or ``num``."""
    out: list[Problem] = []
    for name, raw in model.search.items():
        path = f"models.{model.name}.search.{name}"
        parsed = _parse_one(path, raw)
        if isinstance(parsed, list):
            out += parsed
        elif sweep is not None and _grids(sweep) and _ungriddable(parsed):
            out.append(_grid_problem(path, parsed))
    if sweep is not None and sweep.strategy == "halving" and model.search:
        out += halving_problems(model, sweep)
    return tuple(out)


def _grids(sweep: SweepSpec) -> bool:
    """True when the sweep enumerates a grid (grid, or halving over grid candidates)."""
    if sweep.strategy == "halving":
        return sweep.halving.candidates == "grid"
    return sweep.strategy == "grid"


def halving_problems(model: ModelSpec, sweep: SweepSpec) -> list[Problem]:
    """What ``sweep.halving`` cannot do for ``model`` (scikit-learn's own checks): a
    resource other than ``n_samples`` needs ``max_resources`` and must not be searched."""
    h = sweep.halving
    out: list[Problem] = []
    if h.resource == "n_samples":
        return out
    if h.max_resources is None:
        out.append(
            Problem(
                "sweep.halving.max_resources",
                f"resource {h.resource!r} needs max_resources",
                "an integer >= 1",
                "none",
                f"set sweep.halving.max_resources to the largest {h.resource} to try",
            )
        )
    if h.resource in model.search:
        out.append(
            Problem(
                f"models.{model.name}.search.{h.resource}",
                f"{h.resource} is the halving resource: halving sets it, it cannot be searched",
                f"no search over {h.resource}",
                repr(thaw(model.search[h.resource])),
                "drop it from search, or use sweep.halving.resource=n_samples",
            )
        )
    if isinstance(h.min_resources, int) and h.max_resources and h.min_resources > h.max_resources:
        out.append(
            Problem(
                "sweep.halving.min_resources",
                "min_resources is greater than max_resources",
                f"<= {h.max_resources}",
                repr(h.min_resources),
            )
        )
    return out


def _ungriddable(space: Space) -> TypeGuard[IntSpace | FloatSpace]:
    """A range with neither ``step`` nor ``num`` has no finite grid."""
    return not isinstance(space, ChoiceSpace) and space.step is None and space.num is None


def _grid_problem(path: str, space: IntSpace | FloatSpace) -> Problem:
    kind = "int" if isinstance(space, IntSpace) else "float"
    return Problem(
        path,
        f"a {kind} range cannot be gridded without `step` or `num`",
        expected="step: ... or num: ...",
        got=f"[{space.low}, {space.high}]",
        hint="add `step: ...` or `num: ...` to the space, or use sweep.strategy=random",
    )


def parse_search(model: ModelSpec) -> dict[str, Space]:
    """The typed spaces of ``model.search``; raises :class:`RecipeError` listing every problem."""
    spaces: dict[str, Space] = {}
    problems: list[Problem] = []
    for name, raw in model.search.items():
        parsed = _parse_one(f"models.{model.name}.search.{name}", raw)
        if isinstance(parsed, list):
            problems += parsed
        else:
            spaces[name] = parsed
    if problems:
        raise RecipeError(problems)
    return spaces


def check_sweep(sweep: SweepSpec) -> None:
    """Reject a strategy we do not know and budgets that allow no trial."""
    if sweep.strategy not in STRATEGIES:
        raise UserError(
            f"sweep.strategy: unknown strategy {sweep.strategy!r} (expected one of {', '.join(STRATEGIES)})",
            key_path="sweep.strategy",
            hint=_suggest(sweep.strategy, STRATEGIES),
        )
    if sweep.trials < 1:
        raise UserError(
            f"sweep.trials: needs at least 1 trial (got {sweep.trials})",
            key_path="sweep.trials",
            hint="set sweep.trials to a positive int",
        )
    if sweep.strategy == "halving":
        _check_halving(sweep)
    if sweep.timeout_s is not None and sweep.timeout_s <= 0:
        raise UserError(
            f"sweep.timeout_s: must be positive seconds (got {sweep.timeout_s})",
            key_path="sweep.timeout_s",
            hint="remove it for no time budget",
        )


def _check_halving(sweep: SweepSpec) -> None:
    """The options of ``sweep.halving`` a spec built without the recipe loader may break."""
    h = sweep.halving
    bad: tuple[str, Any, str] | None = None
    if not isinstance(h.factor, int) or isinstance(h.factor, bool) or h.factor < 2:
        bad = ("factor", h.factor, "an integer >= 2")
    elif h.min_resources not in ("exhaust", "smallest") and not (
        isinstance(h.min_resources, int) and h.min_resources >= 1
    ):
        bad = ("min_resources", h.min_resources, "exhaust, smallest or an integer >= 1")
    elif h.max_resources is not None and h.max_resources < 1:
        bad = ("max_resources", h.max_resources, "an integer >= 1")
    elif h.candidates not in ("grid", "random"):
        bad = ("candidates", h.candidates, "grid or random")
    elif h.resource != "n_samples" and h.max_resources is None:
        bad = ("max_resources", None, f"an integer (resource {h.resource!r} has no default)")
    if bad is not None:
        key, got, expected = bad
        raise UserError(
            f"sweep.halving.{key}: expected {expected} (got {got!r})",
            key_path=f"sweep.halving.{key}",
            hint=f"set sweep.halving.{key} to {expected}",
        )


# ---------------------------------------------------------------- static strategies


def grid_values(path: str, space: Space) -> tuple[Any, ...]:
    """The finite values a grid sweeps for one space; ranges need ``step`` or ``num``."""
    if isinstance(space, ChoiceSpace):
        return space.options
    if space.step is None and space.num is None:
        problem = _grid_problem(path, space)
        raise UserError(
            f"{path}: {problem.message} (got {problem.got})", key_path=path, hint=problem.hint
        )
    if space.step is not None:
        n = math.floor((space.high - space.low) / space.step + 1e-9) + 1
        vals = [space.low + i * space.step for i in range(n)]
    else:
        vals = _spaced(space.low, space.high, int(space.num or 1), space.log)
    if isinstance(space, IntSpace):
        return tuple(dict.fromkeys(round(v) for v in vals))
    return tuple(round(float(v), 12) for v in vals)


def _spaced(lo: float, hi: float, num: int, log: bool) -> list[float]:
    if num == 1:
        return [lo]
    if log:
        a, b = math.log(lo), math.log(hi)
        return [math.exp(a + (b - a) * i / (num - 1)) for i in range(num)]
    return [lo + (hi - lo) * i / (num - 1) for i in range(num)]


def sample(space: Space, rng: random.Random) -> Any:
    """One random value of ``space`` (log-uniform when ``log``; on the step lattice if any)."""
    if isinstance(space, ChoiceSpace):
        return space.options[rng.randrange(len(space.options))]
    if space.step is not None or space.num is not None:
        return rng.choice(grid_values("", space))
    if isinstance(space, IntSpace):
        if not space.log:
            return rng.randint(space.low, space.high)
        v = math.exp(rng.uniform(math.log(space.low), math.log(space.high + 1)))
        return min(space.high, max(space.low, math.floor(v)))
    if space.log:
        return math.exp(rng.uniform(math.log(space.low), math.log(space.high)))
    return rng.uniform(space.low, space.high)


def _finite_size(spaces: Mapping[str, Space]) -> int | None:
    """How many distinct points the space has, or None when a range is continuous."""
    size = 1
    for s in spaces.values():
        if isinstance(s, ChoiceSpace):
            size *= len(s.options)
        elif isinstance(s, IntSpace) and s.step is None and s.num is None:
            size *= s.high - s.low + 1
        elif s.step is None and s.num is None:
            return None
        else:
            size *= len(grid_values("", s))
    return size


def _grid(model: ModelSpec, spaces: Mapping[str, Space]) -> list[dict[str, Any]]:
    names = list(spaces)
    axes = [grid_values(f"models.{model.name}.search.{n}", spaces[n]) for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def _random(
    model: ModelSpec, spaces: Mapping[str, Space], n: int, seed: int
) -> list[dict[str, Any]]:
    size = _finite_size(spaces)
    if (
        size is not None
        and size <= n
        and all(
            isinstance(s, ChoiceSpace) or s.step is not None or s.num is not None
            for s in spaces.values()
        )
    ):
        return _grid(model, spaces)  # asking for at least every point: the grid, no duplicates
    rng = random.Random(f"{seed}:{model.name}")
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for _ in range(n * _MAX_DRAWS_PER_TRIAL):
        if len(out) == n:
            break
        point = {name: sample(space, rng) for name, space in spaces.items()}
        ident = repr(sorted((k, repr(thaw(v))) for k, v in point.items()))
        if ident not in seen:
            seen.add(ident)
            out.append(point)
    return out


def propose(model: ModelSpec, sweep: SweepSpec | None, seed: int) -> tuple[Mapping[str, Any], ...]:
    """The params of every trial of ``model`` (search values merged over ``model.params``).

    No sweep or no search: one trial with ``model.params``. ``grid``: the cartesian product.
    ``random``: ``sweep.trials`` distinct draws, the same for the same seed. ``halving``: its
    candidates (``sweep.halving.candidates``: the grid, or random draws), which
    :mod:`engine.halving` evaluates iteration by iteration. ``optuna`` is adaptive and has
    no static list: use :class:`OptunaSearch`.
    """
    if sweep is None or not model.search:
        return (frozen_map(thaw(model.params)),)
    check_sweep(sweep)
    spaces = parse_search(model)
    if sweep.strategy == "optuna":
        raise ValueError("optuna proposes trials one at a time: use engine.sweeps.OptunaSearch")
    points = _grid(model, spaces) if _grids(sweep) else _random(model, spaces, sweep.trials, seed)
    base = thaw(model.params)
    return tuple(frozen_map({**base, **point}) for point in points)


class StaticTrials:
    """The trials of a static strategy (or a model's one trial), handed out in order.
    Same interface as :class:`OptunaSearch`; ``report`` never prunes, ``tell`` is a no-op."""

    adaptive = False

    def __init__(self, trials: Sequence[Mapping[str, Any]]):
        self.trials = tuple(trials)
        self._next = 0

    def ask(self) -> Trial | None:
        if self._next >= len(self.trials):
            return None
        self._next += 1
        return Trial(self._next - 1, self.trials[self._next - 1])

    def report(self, number: int, step: int, value: float) -> bool:
        return False

    def tell(self, number: int, value: float | None, *, pruned: bool = False) -> None:
        return None


def trial_source(
    model: ModelSpec, sweep: SweepSpec | None, seed: int, *, greater_is_better: bool = True
) -> StaticTrials | OptunaSearch:
    """Where ``model``'s trials come from: every static strategy's list up front, or an
    adaptive search that proposes them while the run goes (``adaptive`` says which)."""
    if is_halving(model, sweep):
        raise ValueError("halving runs iteration by iteration: use engine.halving.Halving")
    if is_adaptive(model, sweep):
        assert sweep is not None
        return OptunaSearch(model, sweep, seed, greater_is_better=greater_is_better)
    return StaticTrials(propose(model, sweep, seed))


def is_adaptive(model: ModelSpec, sweep: SweepSpec | None) -> bool:
    """True when ``model``'s trials are proposed while the run goes (not known up front):
    optuna's, and successive halving's (each iteration's survivors depend on the last)."""
    return sweep is not None and sweep.strategy in ("optuna", "halving") and bool(model.search)


def is_halving(model: ModelSpec, sweep: SweepSpec | None) -> bool:
    """True when ``model``'s candidates go through successive halving (engine/halving.py)."""
    return sweep is not None and sweep.strategy == "halving" and bool(model.search)


# ---------------------------------------------------------------- adaptive: optuna


def _distribution(
    space: Space,
) -> tuple[optuna.distributions.BaseDistribution, Callable[[Any], Any]]:
    """The optuna distribution of a space, and how to map a sampled value back to a param."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(space, ChoiceSpace):
        opts = space.options
        if all(o is None or isinstance(o, bool | int | float | str) for o in opts):
            return CategoricalDistribution(opts), lambda v: v
        # lists/mappings are not optuna categories: sample the index, map it back
        return CategoricalDistribution(tuple(range(len(opts)))), lambda i: opts[int(i)]
    if space.num is not None:
        vals = grid_values("", space)
        return CategoricalDistribution(vals), lambda v: v
    if isinstance(space, IntSpace):
        return IntDistribution(space.low, space.high, log=space.log, step=space.step or 1), int
    return FloatDistribution(space.low, space.high, log=space.log, step=space.step), float


class OptunaSearch:
    """Asynchronous ask/tell over an optuna study (TPE, seeded; MedianPruner when pruning).

    The executor keeps N trials in flight: it calls :meth:`ask` whenever a slot frees,
    :meth:`report` with intermediate scores (CV folds, epochs) to learn whether to stop a
    trial early, and :meth:`tell` with the final score. :meth:`ask` returns ``None`` once
    the trial budget (``sweep.trials``) or the time budget (``sweep.timeout_s``) is spent.
    """

    adaptive = True

    def __init__(
        self,
        model: ModelSpec,
        sweep: SweepSpec,
        seed: int,
        *,
        greater_is_better: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import optuna

        check_sweep(sweep)
        spaces = parse_search(model)
        self.model = model
        self.sweep = sweep
        self._clock = clock
        self._started = clock()
        self._dists = {name: _distribution(s) for name, s in spaces.items()}
        pruner = (
            optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
            if sweep.pruning
            else optuna.pruners.NopPruner()
        )
        run = studies.current()  # in a run: a named study in $SOUS_HOME (engine.studies)
        self.study = optuna.create_study(
            storage=studies.open_storage(run.url) if run else None,
            study_name=run.name_for(model.name) if run else None,
            direction="maximize" if greater_is_better else "minimize",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, sweep.trials)),
            pruner=pruner,
        )
        if run is not None:  # what a user searching the dashboard for a run sees
            attrs = {"recipe": run.recipe, "model": model.name, "run_id": run.run_id, "seed": seed}
            for key, value in attrs.items():
                self.study.set_user_attr(key, value)
        self._live: dict[int, optuna.trial.Trial] = {}
        self._asked = 0

    @property
    def budget_left(self) -> bool:
        """False once ``sweep.trials`` were asked or ``sweep.timeout_s`` elapsed."""
        if self._asked >= self.sweep.trials:
            return False
        timeout = self.sweep.timeout_s
        return timeout is None or self._clock() - self._started < timeout

    @property
    def in_flight(self) -> tuple[int, ...]:
        return tuple(self._live)

    def ask(self) -> Trial | None:
        """The next trial (params merged over ``model.params``), or None when the budget is spent."""
        if not self.budget_left:
            return None
        trial = self.study.ask({name: d for name, (d, _) in self._dists.items()})
        self._live[trial.number] = trial
        self._asked += 1
        sampled = {name: back(trial.params[name]) for name, (_, back) in self._dists.items()}
        return Trial(trial.number, frozen_map({**thaw(self.model.params), **sampled}))

    def report(self, number: int, step: int, value: float) -> bool:
        """Record an intermediate score; True means the trial is unpromising: stop it and
        call :meth:`tell` with ``pruned=True``."""
        trial = self._trial(number)
        trial.report(float(value), step)
        return bool(self.sweep.pruning and trial.should_prune())

    def tell(self, number: int, value: float | None, *, pruned: bool = False) -> None:
        """Finish a trial: its final score, ``None`` (or NaN) when it failed, or pruned."""
        from optuna.trial import TrialState

        trial = self._trial(number)
        del self._live[number]
        if pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
        elif value is None or math.isnan(value):
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, float(value))

    def best(self) -> Trial | None:
        """The best finished trial so far (its params as proposed), or None if none finished."""
        from optuna.trial import TrialState

        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            return None
        t = self.study.best_trial
        sampled = {name: back(t.params[name]) for name, (_, back) in self._dists.items()}
        return Trial(t.number, frozen_map({**thaw(self.model.params), **sampled}))

    def _trial(self, number: int) -> optuna.trial.Trial:
        try:
            return self._live[number]
        except KeyError:
            raise ValueError(
                f"trial {number} is not in flight (in flight: {sorted(self._live)})"
            ) from None
