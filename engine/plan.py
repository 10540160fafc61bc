"""Recipe spec -> the lifecycle DAG: one node per unit of work, content-addressed keys.

A node holds its step function (given by object; its ``module:qualname`` path, derived once by
:func:`step_path`, is what keys hash and what names it), its keyword parameters, and
references to the outputs of other nodes (:class:`Ref`). Its key hashes the step, the function's version, its
resolved parameters, the keys it reads, and (for sources) a fingerprint of the data, so identical
work gets the identical key: reruns hit the cache, and trials share their upstream nodes.
No Dask here; ``compile``/``executors`` turn a plan into tasks.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine import metrics as _metrics
from engine.errors import RunError
from engine.provenance import code_fingerprint, deciding_libraries, model_dependencies, versions
from engine.specs import CVSpec, ModelSpec, RecipeSpec, SourceSpec, thaw
from engine.steps import data as data_steps
from engine.steps import flow, train

HASH_LEN = 16


@dataclass(frozen=True)
class Ref:
    """The output of node ``key``, optionally narrowed by a path of attributes / indices."""

    key: str
    path: tuple[str | int, ...] = ()

    def resolve(self, value: Any) -> Any:
        for part in self.path:
            value = value[part] if isinstance(part, int) else getattr(value, part)
        return value


@dataclass(frozen=True)
class Node:
    """One unit of work. ``key`` hashes exactly what decides the output (see
    :meth:`PlanBuilder.add`); ``hints`` are extra keyword arguments that change how the step
    runs but never what it returns (a fit to grow from, keeping a fitted model in memory),
    so they stay out of the key. ``resources`` route the task; they are not hashed either."""

    key: str
    step: str  # readable name, e.g. "fit:rf:t0:f1"
    func: str  # "module:qualname" of the step function (see :func:`step_path`)
    params: Mapping[str, Any]  # values may be Ref, or tuples / dicts of Ref
    deps: tuple[str, ...]  # keys this node reads (params and hints), in a fixed order
    resources: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "step"  # step | fit | source (for progress and accounting)
    hints: Mapping[str, Any] = field(default_factory=dict)  # may hold Refs too
    # The step function itself. Pickled (to a Dask worker) by reference, i.e. by ``func``,
    # when it is importable there; a function defined in a test pickles by value.
    fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def callable(self) -> Callable[..., Any]:
        return self.fn if self.fn is not None else resolve_func(self.func)

    def arguments(self) -> dict[str, Any]:
        """The step's keyword arguments before resolution: params, then hints."""
        return {**self.params, **self.hints}

    def __dask_tokenize__(self) -> tuple[str, str]:
        """The key already hashes everything the node is: concurrent jobs that submit the
        same node submit the same task, and Dask merges them."""
        return ("sous.Node", self.key)


@dataclass(frozen=True)
class Plan:
    """Nodes in topological order plus the keys of the outputs the run needs."""

    recipe: str
    nodes: Mapping[str, Node]
    outputs: Mapping[str, str]  # role -> key: profile, selection, model, test
    trials: tuple[str, ...] = ()  # keys of trial nodes (for the leaderboard)
    sources: Mapping[str, str] = field(default_factory=dict)  # source name -> its load/ingest
    roles: Mapping[str, str] = field(default_factory=dict)  # other roles: integrate, ingest

    def node(self, key: str) -> Node:
        return self.nodes[key]

    def upstream(self, targets: Iterable[str]) -> list[str]:
        """Keys needed for ``targets``, in topological order."""
        needed: set[str] = set()
        stack = list(targets)
        while stack:
            key = stack.pop()
            if key not in needed:
                needed.add(key)
                stack.extend(self.nodes[key].deps)
        return [k for k in self.nodes if k in needed]


StepFn = Callable[..., Any]


def step_path(fn: StepFn) -> str:
    """The one place a step's ``module:qualname`` is derived from the function: keys hash
    it, nodes are named by it, :func:`resolve_func` imports it back."""
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve_func(path: str) -> StepFn:
    """The function at ``module:qualname`` (a path given by hand, or :func:`step_path`'s)."""
    module, _, name = path.partition(":")
    found: Any = functools.reduce(getattr, name.split("."), importlib.import_module(module))
    return found  # type: ignore[no-any-return]


def as_step(func: StepFn | str) -> tuple[str, StepFn]:
    """A step given by object (or, for plugins and tests, by path): its path and function.
    A path names the function it imports, so both forms give a node the same key."""
    fn = resolve_func(func) if isinstance(func, str) else func
    return step_path(fn), fn


def canonical(value: Any) -> Any:
    """A JSON-able canonical form for hashing: dataclasses, mappings, sequences, numbers."""
    if isinstance(value, Ref):
        return {"__ref__": value.key, "path": list(value.path)}
    identity = getattr(value, "__sous_key__", None)
    if callable(identity) and not isinstance(value, type):  # hashed by what decides results
        return {"__type__": type(value).__name__, **canonical(identity())}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "__type__": type(value).__name__,
            **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def token(*parts: Any) -> str:
    blob = json.dumps([canonical(p) for p in parts], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:HASH_LEN]


def _refs(value: Any) -> list[str]:
    if isinstance(value, Ref):
        return [value.key]
    if isinstance(value, Mapping):
        return [k for v in value.values() for k in _refs(v)]
    if isinstance(value, list | tuple):
        return [k for v in value for k in _refs(v)]
    return []


KEY_SCHEME = 2  # bump when what a key hashes changes: old entries then simply miss


class PlanBuilder:
    """Adds nodes, computing keys and checking each function's signature against its params."""

    def __init__(self, recipe: str):
        self.recipe = recipe
        self.nodes: dict[str, Node] = {}

    def add(
        self,
        step: str,
        func: StepFn | str,
        params: Mapping[str, Any],
        *,
        salt: Any = None,
        resources: Mapping[str, Any] | None = None,
        kind: str = "step",
        hints: Mapping[str, Any] | None = None,
        label: str | None = None,
        identity: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a node; returns its key ``"<label>-<hash>"``. The hash covers exactly what
        decides the output: the key scheme, the step function's path (``func`` is the
        function; a ``module:qualname`` string is accepted too) and a fingerprint of the code
        it runs, the versions of the libraries that decide its result, ``params`` (with
        ``identity`` entries in place of theirs: e.g. a fit's resolved model params
        instead of a trial's), the keys of the nodes it reads, and ``salt`` (a source's data
        fingerprint). Not hashed: ``step`` (a readable name that may carry a trial number;
        ``label``, default ``step``, is the key's readable prefix), ``hints``,
        ``resources`` and ``kind``. The prefix is also Dask's task prefix, and Dask keeps
        state per prefix: nodes of one kind share a label (a sweep's fits: ``fit:MODEL:FOLD``,
        never the trial), or each task's bookkeeping on a worker grows with the tasks it
        holds."""
        path, fn = as_step(func)
        hints = dict(hints or {})
        _check_signature(step, path, fn, {**params, **hints})
        key_params = {**params, **(identity or {})}
        code, libs = node_provenance(fn, params)
        digest = token(KEY_SCHEME, path, code, versions(libs), key_params, salt)
        key = f"{(label or step).replace(':', '.')}-{digest}"
        deps = tuple(dict.fromkeys([*_refs(params), *_refs(hints)]))
        missing = [d for d in deps if d not in self.nodes]
        if missing:
            raise RunError(f"plan error: {step} reads unknown nodes {missing}", step=step)
        node = Node(key, step, path, dict(params), deps, dict(resources or {}), kind, hints, fn)
        self.nodes.setdefault(key, node)
        return key


def node_provenance(fn: Callable[..., Any], params: Mapping[str, Any]) -> tuple[str, set[str]]:
    """The code fingerprint and deciding libraries of a node running ``fn`` on ``params``:
    the function's own (:mod:`engine.provenance`), plus what the models among its params
    bring (their kind's adapter, their ``_target_``'s package, imbalanced-learn)."""
    code = [code_fingerprint(fn)]
    libs = set(deciding_libraries(fn))
    recipe_imbalance = params.get("imbalance")
    for model in _model_specs(params):
        model_code, model_libs = model_dependencies(model, recipe_imbalance)
        code.append(model_code)
        libs |= model_libs
    return ":".join(code), libs


def _model_specs(params: Mapping[str, Any]) -> list[ModelSpec]:
    found: list[ModelSpec] = []
    for value in params.values():
        items = value if isinstance(value, tuple | list) else (value,)
        found.extend(v for v in items if isinstance(v, ModelSpec))
    return found


def _check_signature(
    step: str, func: str, fn: Callable[..., Any], params: Mapping[str, Any]
) -> None:
    """Kedro-style: a node's declared inputs must fit its function, checked when planning."""
    try:
        inspect.signature(fn).bind(**params)
    except TypeError as exc:
        raise RunError(
            f"plan error: step {step!r} ({func}) does not accept its inputs: {exc}", step=step
        ) from exc


# The plan of a recipe ------------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    """Keys of the nodes every trial shares: validated data, split, features, folds."""

    data: str
    profile: str
    split: str
    features: str
    folds: str | None
    sources: Mapping[str, str] = field(default_factory=dict)  # source name -> load/ingest key
    integrate: str | None = None
    ingest: str | None = None

    @property
    def frame(self) -> Ref:
        return Ref(self.data, ("frame",))

    def keys(self) -> tuple[str, ...]:
        return tuple(
            k for k in (self.data, self.profile, self.split, self.features, self.folds) if k
        )


def base_nodes(b: PlanBuilder, spec: RecipeSpec, salts: SourceSalts | None = None) -> Base:
    """Load, integrate, validate, profile, split, features and (with CV) folds. ``salts``:
    where the sources' fingerprints come from (default: taken now, see
    :class:`ContentFingerprints`)."""
    salts = salts or ContentFingerprints()
    if spec.data.out_of_core is not None:
        return _out_of_core_base(b, spec, salts)
    data_key, loads, integrated = _data_nodes(b, spec, salts)
    valid = Ref(data_key, ("frame",))
    features, profile = _frame_nodes(b, spec, valid)
    split = b.add(
        "split",
        train.split,
        {
            "frame": valid,
            "target": spec.target,
            "task": spec.task,
            "spec": spec.split,
            "seed": spec.seed,
        },
    )
    folds = _selection_folds(b, spec, valid, split)
    return Base(data_key, profile, split, features, folds, loads, integrated)


@dataclass(frozen=True)
class WinnerFit:
    """Who won the selection: the model and the trial's params. The refit is keyed on this
    (with the data), not on the whole selection, so a wider grid whose winner is unchanged
    reuses the refit and the test."""

    model: ModelSpec
    params: Mapping[str, Any]


def winner_fit(selection: flow.Selection, models: Sequence[ModelSpec]) -> WinnerFit:
    winner = selection.winner
    return WinnerFit(next(m for m in models if m.name == winner.model), winner.params)


def select_node(b: PlanBuilder, spec: RecipeSpec, trial_keys: Iterable[str]) -> str:
    return b.add(
        "select",
        flow.select,
        {
            # in key order: the same trials asked in another order are the same selection
            "trials": tuple(Ref(k) for k in sorted(set(trial_keys))),
            "metric": spec.select.metric,
            "greater_is_better": spec.select.greater_is_better,
            "tiebreak": spec.select.tiebreak,
            "tiebreak_greater_is_better": spec.select.tiebreak_greater_is_better,
        },
    )


def final_nodes(
    b: PlanBuilder,
    spec: RecipeSpec,
    base: Base,
    trial_keys: list[str],
    winner: WinnerFit | None = None,
) -> dict[str, str]:
    """select -> refit the winner on train+valid -> test it once on the test split.

    With ``winner`` (known once the selection ran, or found in the cache) the refit's key
    names the winner's fit: its model, resolved params and data. Without it the refit is
    provisional, keyed on the selection node (what a plan shows before selecting); a run
    always plans it with the winner."""
    selection = select_node(b, spec, trial_keys)
    train_rows = {
        "frame": base.frame,
        "idx": Ref(base.split, ("train",)),
        "more_idx": Ref(base.split, ("valid",)),
    }
    common = {
        "target": spec.target,
        "task": spec.task,
        "preprocess": spec.preprocess,
        "imbalance": spec.imbalance,
        "features": Ref(base.features),
        "seed": spec.seed,
    }
    if winner is None:
        model_key = b.add(
            "refit",
            flow.refit_winner,
            {"selection": Ref(selection), **train_rows, "models": spec.models, **common},
            kind="fit",
        )
    else:
        resolved = {**thaw(winner.model.params), **thaw(winner.params)}
        model_key = b.add(
            "refit",
            flow.refit_fit,
            {"model": winner.model, "params": winner.params, **train_rows, **common},
            kind="fit",
            identity={"params": resolved},  # as a fit's: the model's params resolved
        )
    test = b.add(
        "test",
        train.evaluate,
        {
            "estimator": Ref(model_key),
            "frame": base.frame,
            "idx": Ref(base.split, ("test",)),
            "target": spec.target,
            "task": spec.task,
            "features": Ref(base.features),
            # scikit-learn scorers the recipe names (H1, issue 15); absent when none
            **({"metrics": scorers} if (scorers := _metrics.requested(spec.select)) else {}),
        },
    )
    return {
        "data": base.data,
        "profile": base.profile,
        "split": base.split,
        "features": base.features,
        "selection": selection,
        "model": model_key,
        "test": test,
    }


def _frame_nodes(b: PlanBuilder, spec: RecipeSpec, frame: Ref) -> tuple[str, str]:
    """The model's feature columns and the data profile of the training frame."""
    features = b.add(
        "features",
        flow.feature_columns,
        {
            "frame": frame,
            "target": spec.target,
            "features": spec.data.features,
            "drop": spec.data.drop,
        },
    )
    profile = b.add("profile", data_steps.profile, {"frame": frame, "target": spec.target})
    return features, profile


class SourceSalts(Protocol):
    """Where a load node's data fingerprint comes from. ``salt`` is hashed into the key;
    ``added`` hears the key it gave (a run that already read the source stores the rows as
    that node's output, so the source is read once)."""

    def salt(self, source: SourceSpec) -> str: ...
    def added(self, source: SourceSpec, key: str) -> None: ...


class ContentFingerprints:
    """Each source's fingerprint taken when the plan is built (files: a content hash; SQL:
    the rows, which means running the query once more than the load does)."""

    def salt(self, source: SourceSpec) -> str:
        return data_steps.fingerprint(source)

    def added(self, source: SourceSpec, key: str) -> None:
        return None


def _load_node(b: PlanBuilder, spec: RecipeSpec, source: SourceSpec, salts: SourceSalts) -> str:
    """Read one source into memory, PII masked inside the step: raw values never persist."""
    key = b.add(
        f"load:{source.name}",
        data_steps.load,
        {"source": source, "pii": spec.data.pii, "salt_env": spec.data.pii_salt_env},
        salt=salts.salt(source),
        kind="source",
    )
    salts.added(source, key)
    return key


def _data_nodes(
    b: PlanBuilder, spec: RecipeSpec, salts: SourceSalts
) -> tuple[str, dict[str, str], str]:
    """source:* -> integrate -> validate; returns the keys of validate, loads, integrate."""
    loads = {source.name: _load_node(b, spec, source, salts) for source in spec.data.sources}
    integrated = b.add(
        "integrate",
        data_steps.integrate,
        {"frames": {name: Ref(key) for name, key in loads.items()}, "data": spec.data},
    )
    validated = b.add(
        "validate",
        data_steps.validate,
        {"frame": Ref(integrated, ("frame",)), "schema": spec.schema, "target": spec.target},
    )
    return validated, loads, integrated


def _out_of_core_base(b: PlanBuilder, spec: RecipeSpec, salts: SourceSalts) -> Base:
    """Ingest + validate + split partition by partition (into $SOUS_HOME/datasets), then a
    bounded in-memory sample that the usual training nodes take."""
    from engine.home import sous_home

    assert spec.data.out_of_core is not None
    base_source, *others = spec.data.sources
    lookups = {s.name: _load_node(b, spec, s, salts) for s in others}
    identity = (data_steps.fingerprint(base_source), spec.data, spec.schema, spec.split, spec.seed)
    workdir = str(sous_home() / "datasets" / f"{spec.name}-{token(*identity)}")
    ingested = b.add(
        f"ingest:{base_source.name}",
        data_steps.ingest_out_of_core,
        {
            "source": base_source,
            "lookups": {name: Ref(key) for name, key in lookups.items()},
            "data": spec.data,
            "schema": spec.schema,
            "target": spec.target,
            "workdir": workdir,
        },
        salt=identity[0],
        kind="source",
    )
    parts = b.add(
        "split:out_of_core",
        data_steps.split_out_of_core,
        {
            "ingested": Ref(ingested),
            "target": spec.target,
            "task": spec.task,
            "spec": spec.split,
            "seed": spec.seed,
            "workdir": workdir,
        },
    )
    sample = b.add(
        "sample",
        data_steps.sample_out_of_core,
        {"split": Ref(parts), "sample_rows": spec.data.out_of_core.sample_rows, "seed": spec.seed},
    )
    frame = Ref(sample, ("frame",))
    features, profile = _frame_nodes(b, spec, frame)
    split = b.add("split", flow.holdout_of, {"sample": Ref(sample)})
    folds = _selection_folds(b, spec, frame, split)
    sources = {base_source.name: ingested, **lookups}
    return Base(sample, profile, split, features, folds, sources, ingest=ingested)


def _selection_folds(b: PlanBuilder, spec: RecipeSpec, valid: Ref, split: str) -> str | None:
    """With CV (declared, or needed because there is no validation split): the folds node."""
    cv = spec.cv
    if cv is None and spec.split.valid_size > 0:
        return None
    if cv is None:
        cv = CVSpec(kind="stratified_kfold" if spec.task == "classification" else "kfold")
    return b.add(
        "folds",
        flow.selection_folds,
        {
            "frame": valid,
            "split": Ref(split),
            "target": spec.target,
            "task": spec.task,
            "spec": cv,
            "seed": spec.seed,
            "time": spec.split.time,
        },
    )


class TrialPlanner:
    """Plans one model's trials. Where a trial only adds members to another's ensemble
    (``n_estimators`` 12 after 6, see :mod:`engine.models.growth`), each of its fold fits
    continues that trial's fit of the same fold instead of starting over; the smaller trial
    is planned first, whatever the order the trials are asked in."""

    def __init__(
        self,
        b: PlanBuilder,
        spec: RecipeSpec,
        base: Base,
        model: ModelSpec,
        trials: Sequence[Mapping[str, Any]] = (),
    ):
        from engine.models.growth import lineage

        self.b, self.spec, self.base, self.model = b, spec, base, model
        self.trials = tuple(trials)
        grows = spec.sweep is not None and spec.sweep.grow
        self.parent_of = lineage(model, self.trials) if grows else {}
        self.parents = set(self.parent_of.values())
        self.planned: dict[int, tuple[str, tuple[str, ...]]] = {}

    def plan(self, t: int, params: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
        """Trial ``t``'s key and its fit keys (in fold order)."""
        if t in self.planned:
            return self.planned[t]
        grow_from = None
        if t in self.parent_of:
            parent = self.parent_of[t]
            grow_from = self.plan(parent, self.trials[parent])[1]
        planned = trial_nodes(
            self.b,
            self.spec,
            self.base,
            self.model,
            t,
            params,
            grow_from=grow_from,
            keep_model=t in self.parents,
        )
        self.planned[t] = planned
        return planned


def trial_nodes(
    b: PlanBuilder,
    spec: RecipeSpec,
    base: Base,
    model: ModelSpec,
    t: int,
    params: Mapping[str, Any],
    *,
    grow_from: Sequence[str] | None = None,
    keep_model: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """One trial: a fit+score node per fold (or one on the holdout), then their aggregate.
    ``grow_from``: the fit keys (per fold) of the trial this one grows from; ``keep_model``:
    its fits keep their fitted models for the trials that grow from it. Returns the trial's
    key and its fit keys (in fold order)."""
    common = {
        "frame": base.frame,
        "target": spec.target,
        "task": spec.task,
        "model": model,
        "params": params,
        "preprocess": spec.preprocess,
        "imbalance": spec.imbalance,
        "features": Ref(base.features),
        "seed": spec.seed,
    }
    scorers = _metrics.requested(spec.select)
    if scorers:  # only then: a recipe naming none keeps its fits' keys (H1, issue 15)
        common["metrics"] = scorers
    folds = base.folds
    if folds is None:
        pairs = [(Ref(base.split, ("train",)), Ref(base.split, ("valid",)))]
    else:
        n = (spec.cv or CVSpec()).folds
        pairs = [(Ref(folds, (k, 0)), Ref(folds, (k, 1))) for k in range(n)]
    # The key names the work: the model's class and its resolved params, never the trial's
    # number or the search space (widening a grid keeps the old trials' keys), and never
    # the growth hints (a grown fit equals a fresh one, bit for bit: see models/growth.py).
    resolved = {**thaw(model.params), **thaw(params)}
    fits = []
    for k, (train_idx, valid_idx) in enumerate(pairs):
        fold = f":f{k}" if folds is not None else ""
        hints: dict[str, Any] = {"grow_from": Ref(grow_from[k])} if grow_from else {}
        if keep_model:
            hints["keep_model"] = True
        fits.append(
            b.add(
                f"fit:{model.name}:t{t}{fold}",
                train.fit_score,
                {**common, "train_idx": train_idx, "valid_idx": valid_idx},
                resources=model.resources,
                kind="fit",
                hints=hints,
                label=f"fit:{model.name}{fold}",
                identity={"params": resolved},
            )
        )
    trial = b.add(
        f"trial:{model.name}:t{t}",
        flow.aggregate_trial,
        {"fits": tuple(Ref(k) for k in fits), "model": model.name, "params": params},
        label=f"trial:{model.name}",
    )
    return trial, tuple(fits)
