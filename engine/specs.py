"""Frozen, typed specs of a recipe.

The recipe layer (``engine/recipe/``) turns composed Hydra config into these; everything
inward (plan, steps, serving) receives them and never sees OmegaConf. Open-ended parameter
bags (estimator params, source options) are read-only mappings of plain JSON-like values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")


class FrozenMap(Mapping[str, Any]):
    """A read-only, picklable mapping (MappingProxyType cannot be pickled to Dask workers)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None):
        self._data: dict[str, Any] = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._data.items())))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))


EMPTY: Mapping[str, Any] = FrozenMap()


def _empty() -> Mapping[str, Any]:
    return EMPTY


def frozen_map(d: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``d`` (nested dicts and lists frozen too)."""
    if not d:
        return EMPTY
    return FrozenMap({k: _freeze(v) for k, v in d.items()})


def _freeze(v: Any) -> Any:
    if isinstance(v, Mapping):
        return frozen_map(v)
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    return v


def thaw(v: Any) -> Any:
    """Plain, mutable, JSON-serialisable copy of a frozen value (for hashing and records)."""
    if isinstance(v, Mapping):
        return {k: thaw(x) for k, x in v.items()}
    if isinstance(v, tuple | list):
        return [thaw(x) for x in v]
    return v


@dataclass(frozen=True)
class SourceSpec:
    """One entry of ``data.sources``. ``options`` holds the kind-specific keys (path, url...)."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class IntegrateSpec:
    """One entry of ``data.integrate``: join | union | asof | dedupe, applied in order."""

    op: str
    source: str | None = None
    options: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class OutOfCoreSpec:
    """Ingest, validate and split partition by partition; train on a bounded sample."""

    blocksize: str = "64MB"  # partition size when reading csv/json
    sample_rows: int = 1_000_000  # rows (train+valid+test) to train on: exactly these, or all


@dataclass(frozen=True)
class DataSpec:
    sources: tuple[SourceSpec, ...]
    integrate: tuple[IntegrateSpec, ...] = ()
    rename: Mapping[str, str] = field(default_factory=_empty)
    cast: Mapping[str, str] = field(default_factory=_empty)
    pii: Mapping[str, str] = field(default_factory=_empty)  # column -> hash | drop | redact
    pii_salt_env: str = "SOUS_PII_SALT"
    dedupe: tuple[str, ...] = ()
    features: tuple[str, ...] = ()  # empty: every column but the target
    drop: tuple[str, ...] = ()  # columns kept in data but not used as features (ids)
    out_of_core: OutOfCoreSpec | None = None


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: str | None = None  # pandas dtype the column must have: int64, float64, str...
    nullable: bool = True  # false: a missing value fails the check
    unique: bool = False  # true: duplicate values fail
    required: bool = True  # false: the column may be absent
    checks: Mapping[str, Any] = field(default_factory=_empty)  # ge, le, isin, regex, custom...


@dataclass(frozen=True)
class SchemaSpec:
    on_failure: Literal["fail", "warn", "quarantine"] = "fail"
    columns: tuple[ColumnSpec, ...] = ()
    checks: Mapping[str, Any] = field(
        default_factory=_empty
    )  # dataframe-level: unique, min_rows, max_rows
    strict: bool = False  # true: columns the schema does not name fail
    coerce: bool = False  # true: cast columns to their dtype before checking
    max_examples: int = 5  # failing values shown per check
    pandera_yaml: str | None = None  # a pandera DataFrameSchema YAML to import; recipe keys win

    @property
    def checks_anything(self) -> bool:
        """False for a schema that checks nothing (no columns, no frame checks, not strict):
        validation then needs no pandera, only the target's null check."""
        return any(getattr(self, key) for key in SCHEMA_CHECK_KEYS)


# the SchemaSpec fields that ask for checks: any of them set, validation runs pandera
SCHEMA_CHECK_KEYS = ("columns", "checks", "strict", "pandera_yaml")


@dataclass(frozen=True)
class SplitSpec:
    kind: str = "stratified"  # random | stratified | group | time
    test_size: float = 0.2  # share of rows held out, scored once by the winner
    valid_size: float = 0.1  # share of rows to select on (without cv)
    group: str | None = None  # the column whose values never straddle parts (kind group)
    time: str | None = None  # the column that orders rows (kind time)
    gap: int = 0  # rows dropped between the parts of a time split


@dataclass(frozen=True)
class CVSpec:
    kind: str = "stratified_kfold"  # kfold | stratified_kfold | group_kfold | time_series
    folds: int = 5  # number of folds (>= 2)
    group: str | None = None  # the column of group_kfold
    shuffle: bool = True  # false: folds keep row order


# ``preprocess.datetime.parts``: calendar parts a datetime feature can be expanded to
DATETIME_PARTS: tuple[str, ...] = (
    "year", "quarter", "month", "week", "day", "dayofweek", "dayofyear", "hour", "minute", "second",
)  # fmt: skip


@dataclass(frozen=True)
class PreprocessSpec:
    numeric: Mapping[str, Any] = field(
        default_factory=_empty
    )  # impute: mean|median|constant, scale: standard|minmax|none
    categorical: Mapping[str, Any] = field(default_factory=_empty)  # impute, encode: onehot|ordinal
    pca: int | float | None = None
    select_k: int | None = None
    # datetime columns -> calendar parts and/or epoch seconds: {parts: [...], epoch: bool}
    datetime: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class ImbalanceSpec:
    strategy: str = "none"  # none | class_weight | oversample | undersample | smote
    options: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class ModelSpec:
    """One entry of ``models``. ``kind`` is ``sklearn`` (``target`` is the import path) or
    ``lightning``; ``params`` are constructor params; ``search`` the sweep space."""

    name: str
    kind: str
    target: str | None
    params: Mapping[str, Any] = field(default_factory=_empty)
    search: Mapping[str, Any] = field(default_factory=_empty)
    resources: Mapping[str, Any] = field(
        default_factory=_empty
    )  # e.g. {"GPU": 1}; routed to matching workers
    imbalance: ImbalanceSpec | None = None  # per-model override of the recipe's ``imbalance``

    def __sous_key__(self) -> dict[str, Any]:
        """What a node's key takes from a model spec: the class and its imbalance handling.
        Not its name, search space or resources, and not ``params``: a node that fits the
        model hashes its resolved params itself (``plan.trial_nodes``), so widening a
        grid or renaming a search space changes no key of work already done."""
        return {"kind": self.kind, "target": self.target, "imbalance": self.imbalance}


@dataclass(frozen=True)
class HalvingSpec:
    """``sweep.halving``: successive halving as scikit-learn's ``HalvingGridSearchCV`` does
    it (same names; see docs/sweeps.md)."""

    factor: int = 3  # keep the best 1/factor of the candidates at each iteration
    resource: str = "n_samples"  # what grows: the sample size, or an int model param
    min_resources: int | str = "exhaust"  # exhaust | smallest | an int
    max_resources: int | None = None  # the last iteration's resource (n_samples: all rows)
    aggressive_elimination: bool = False  # repeat the first iteration until few are left
    candidates: str = "grid"  # grid | random (sweep.trials draws)


@dataclass(frozen=True)
class SweepSpec:
    strategy: str = "grid"  # grid | random | optuna | halving
    trials: int = 10  # trials per model (random, optuna)
    timeout_s: float | None = None  # stop proposing trials after this many seconds
    budget: Mapping[str, Any] = field(default_factory=_empty)  # cpu_hours | money
    pruning: bool = False  # optuna: stop a trial early on bad folds
    grow: bool = True  # a larger ensemble continues a smaller trial's fits (models/growth.py)
    halving: HalvingSpec = field(default_factory=HalvingSpec)  # strategy halving's options


@dataclass(frozen=True)
class TradeoffSpec:
    """``select.tradeoff``: serve the cheapest model whose score is within ``tolerance`` of
    the best one's; cost is the declared weighted sum of each candidate's measured predict
    latency, model size and training CPU (see docs/scale.md, cost-aware selection)."""

    tolerance: float  # score the served model may give up against the best one
    relative: bool = False  # true: tolerance is a fraction of the best score
    cost: Mapping[str, float] = field(default_factory=_empty)  # latency_ms, size_mb, train_cpu_s


@dataclass(frozen=True)
class SelectSpec:
    metric: str  # "f1" / "rmse" by task when the recipe leaves it out
    greater_is_better: bool = True
    # ties on ``metric`` go to the better ``tiebreak`` (a proper scoring rule by default:
    # log_loss for classifiers, mae for regressors), then to the cheaper fit
    tiebreak: str | None = None
    tiebreak_greater_is_better: bool = False
    gates: Mapping[str, str] = field(default_factory=_empty)
    budget: Mapping[str, Any] = field(default_factory=_empty)  # predict_p99_ms
    metrics: tuple[str, ...] = ()  # scikit-learn scorer names also computed (fits and test)
    tradeoff: TradeoffSpec | None = None  # the cheapest model within a tolerance of the best


@dataclass(frozen=True)
class BentoSpec:
    name: str
    batching: Mapping[str, Any] = field(default_factory=_empty)  # max_batch_size, max_latency_ms
    workers: int = 1  # BentoML worker processes of the served API (issue 16)


@dataclass(frozen=True)
class AuthSpec:
    """``deploy.auth``: who may call the served API beyond ``auth_token_env`` (tokens are
    read from environment variables, never from the recipe)."""

    protect_metrics: bool = False  # /metrics then takes an admin token


@dataclass(frozen=True)
class DeploySpec:
    bento: BentoSpec
    enabled: bool = True  # false: train and select only, no package
    promote: str | None = "staging"  # alias the new version gets (null: package only)
    target: str = "bento"  # bento | serve | container
    smoke: bool = True  # serve the package once and send it requests before promoting
    auth_token_env: str | None = None  # env var holding the API token (never the token)
    log_requests: bool = False  # keep a request log (monitoring reads it)
    port: int = 3000  # target `serve`: where `sous run` serves the promoted version
    auth: AuthSpec = field(default_factory=AuthSpec)
    fallback: str | None = None  # "previous": that version answers when this one fails


@dataclass(frozen=True)
class AdaptiveSpec:
    """``cluster.adaptive``: a local cluster that Dask grows while tasks wait and shrinks
    when workers idle, between ``minimum`` and ``maximum`` workers (``cluster.adapt``)."""

    minimum: int = 0
    maximum: int = 2


@dataclass(frozen=True)
class ClusterSpec:
    kind: str = "local"  # sync | local | remote
    workers: int = 2  # local worker processes
    threads_per_worker: int = 1
    address: str | None = None  # the scheduler of kind remote: tcp://host:8786
    memory_limit: str | None = None  # per local worker, e.g. "4GB" (default: a share of RAM)
    resources: Mapping[str, Any] = field(default_factory=_empty)
    adaptive: AdaptiveSpec | None = None  # local only; ``workers`` is then ignored
    dashboard: str = "auto"  # local only: on | off | auto (a terminal or Jupyter: on)
    pack: bool = True  # many alike cheap units of work go in fewer Dask tasks (packing.py)


DASHBOARD_SETTINGS = ("on", "off", "auto")


def dashboard_setting(raw: object) -> str | None:
    """``cluster.dashboard`` as one of :data:`DASHBOARD_SETTINGS` (unset: auto; YAML's true
    and false: on and off), or None when it is none of them."""
    if raw is None:
        return ClusterSpec.dashboard
    if isinstance(raw, bool):
        return "on" if raw else "off"
    return raw if raw in DASHBOARD_SETTINGS else None


@dataclass(frozen=True)
class CostSpec:
    cpu_hour: float = 0.05  # price of one CPU hour, for the run's cost
    gb_hour: float = 0.005  # price of one GB of memory for an hour
    currency: str = "USD"


# Monitoring (issue 12) ---------------------------------------------------------------------


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted: PSI at least ``psi`` and the test's p-value under
    ``p_value`` (both: practically and statistically), or a missing-rate change beyond
    ``missing_rate``, or a share of rows outside the schema beyond ``out_of_schema``."""

    psi: float = 0.2
    p_value: float = 0.01
    missing_rate: float = 0.1
    out_of_schema: float = 0.01
    ignore: bool = False


@dataclass(frozen=True)
class MonitorAlertsSpec:
    log: bool = True  # one line per alert on stderr and in the alert history
    webhook: str | None = None  # POSTed the JSON report (once per window)
    timeout_s: float = 5.0


@dataclass(frozen=True)
class MonitorSpec:
    """The recipe's ``monitor:`` section (every key has a default)."""

    window_s: float = 86_400.0  # rows read by default, and the alert dedupe period
    min_samples: int = 100  # fewer live rows than this: reported, never flagged
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    features: Mapping[str, DriftThresholds] = field(default_factory=_empty)  # per feature
    metric_drop: float = 0.05  # live metric worse than the test metric by more: alert
    alerts: MonitorAlertsSpec = field(default_factory=MonitorAlertsSpec)
    on_alert: str = "none"  # none | retrain
    live_rows: int = 1000  # rows in the server's rolling window (Prometheus gauges)
    labels: SourceSpec | None = None  # ground truth from a source, besides POST /feedback
    labels_id: str = "request_id"  # its column holding the answers' request_id
    labels_column: str = "label"  # its column holding the true label


@dataclass(frozen=True)
class RecipeSpec:
    name: str
    task: Task
    target: str
    data: DataSpec
    models: tuple[ModelSpec, ...]
    select: SelectSpec
    deploy: DeploySpec
    seed: int = 0
    schema: SchemaSpec = field(default_factory=SchemaSpec)
    split: SplitSpec = field(default_factory=SplitSpec)
    cv: CVSpec | None = None
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    imbalance: ImbalanceSpec = field(default_factory=ImbalanceSpec)
    sweep: SweepSpec | None = None
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    cost: CostSpec = field(default_factory=CostSpec)
    source_file: str | None = None  # where the recipe came from, for messages
    resolved: Mapping[str, Any] = field(
        default_factory=_empty
    )  # the resolved config, for the run record
    features: FeaturesSpec | None = None  # features.windows (issue 13)
    stream: StreamSpec | None = None  # the ``stream:`` section (issue 13)
    monitor: MonitorSpec = field(default_factory=MonitorSpec)  # ``monitor:`` (issue 12)


# Windowed features and streams (issue 13) -------------------------------------------------

WINDOW_AGGS: tuple[str, ...] = ("count", "sum", "mean", "min", "max", "distinct", "last")
WINDOW_KINDS: tuple[str, ...] = ("sliding", "tumbling")


@dataclass(frozen=True)
class WindowFeatureSpec:
    """One aggregation of ``features.windows.aggregations``: ``agg`` of ``column`` over the
    entity's events in ``window`` (seconds) before the row's own time. ``sliding``: the last
    ``window`` seconds; ``tumbling``: since the start of the ``window``-aligned bucket."""

    name: str
    agg: str  # one of WINDOW_AGGS
    window_s: float
    column: str | None = None  # None only for ``count`` (events, not values)
    kind: str = "sliding"  # one of WINDOW_KINDS


@dataclass(frozen=True)
class WindowsSpec:
    """``features.windows``: aggregations over an event source, per entity ``key``, in event
    time ``time``; ``source`` names the historical events for batch (a data source)."""

    key: str
    time: str
    aggregations: tuple[WindowFeatureSpec, ...]
    source: str | None = None
    allowed_lateness_s: float = 0.0

    @property
    def horizon_s(self) -> float:
        """How far back an event can still count for a later one (state is evicted after)."""
        return max((a.window_s for a in self.aggregations), default=0.0)


@dataclass(frozen=True)
class FeaturesSpec:
    windows: WindowsSpec | None = None


@dataclass(frozen=True)
class StreamEndpointSpec:
    """A stream source or sink: ``kind`` (redis | directory | parquet | a plug-in) and its
    options (url, stream, group, path...)."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class StreamModelSpec:
    """The model a stream scores with: the registry's ``name`` (production, else staging,
    re-checked every ``refresh_s``), or a served endpoint's ``url``."""

    name: str | None = None
    url: str | None = None
    refresh_s: float = 2.0


@dataclass(frozen=True)
class StreamSpec:
    """``stream:``: where events come from, where scored rows and rejects go, and the limits
    of a micro-batch (``max_batch`` events or ``max_wait_ms``, whichever comes first)."""

    source: StreamEndpointSpec
    sink: StreamEndpointSpec
    model: StreamModelSpec
    dead_letter: StreamEndpointSpec | None = None
    max_batch: int = 500
    max_wait_ms: int = 100
    claim_idle_ms: int = 30_000
    dedupe_ids: int = 100_000  # how many recent event ids are remembered for dedupe
