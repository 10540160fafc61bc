"""The small recipe sections: split, cv, preprocess, sweep, select, deploy, cluster, cost.

Each function reads one section, records every problem it finds and returns a spec built
from the valid parts (defaults where a value was wrong), so validation can go on and report
the rest of the recipe too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine import specs
from engine.recipe import keys
from engine.recipe.adaptive import adaptive_spec
from engine.recipe.problems import Issues, Section, did_you_mean, is_int, is_number, one_of

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
GATE = re.compile(rf"^\s*(>=|<=|>|<|==)\s*(?:{_NUMBER}|production(?:\s*[-+]\s*{_NUMBER})?)\s*$")
BENTO_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$")
DASK_ADDRESS = re.compile(r"^(?:tcp|tls|ws|wss|ucx|inproc)://\S+$")


def split_spec(top: Section, task: str | None, issues: Issues) -> specs.SplitSpec:
    split = top.mapping("split", keys.SPLIT)
    default_kind = "random" if task == "regression" else "stratified"
    kind = split.text("kind", default_kind, choices=keys.SPLIT_KINDS)
    test = split.number("test_size", 0.2, low=0, high=1)
    valid = split.number("valid_size", 0.1, low=0, high=1, low_inclusive=True)
    if test + valid >= 1:
        issues.add(
            split.key("valid_size"),
            "test_size + valid_size leaves no training data",
            expected="test_size + valid_size < 1",
            got=f"{test:g} + {valid:g} = {test + valid:g}",
            hint="lower test_size or valid_size",
        )
    # stratified on a regression target keeps the shares of its 10 quantile bins
    # (engine.splits.stratify_labels)
    return specs.SplitSpec(
        kind=kind,
        test_size=test,
        valid_size=valid,
        group=split.text("group", required=kind == "group"),
        time=split.text("time", required=kind == "time"),
        gap=split.integer("gap", 0, minimum=0),
    )


def cv_spec(top: Section, task: str | None, issues: Issues) -> specs.CVSpec | None:
    if not top.has("cv"):
        return None
    cv = top.mapping("cv", keys.CV)
    default_kind = "kfold" if task == "regression" else "stratified_kfold"
    kind = cv.text("kind", default_kind, choices=keys.CV_KINDS)
    return specs.CVSpec(
        kind=kind,
        folds=cv.integer("folds", 5, minimum=2),
        group=cv.text("group", required=kind == "group_kfold"),
        shuffle=cv.flag("shuffle", True),
    )


def preprocess_spec(top: Section, issues: Issues) -> specs.PreprocessSpec:
    pre = top.mapping("preprocess", keys.PREPROCESS)
    numeric = pre.mapping("numeric", keys.NUMERIC_PREPROCESS)
    categorical = pre.mapping("categorical", keys.CATEGORICAL_PREPROCESS)
    numeric.text("impute", choices=keys.IMPUTE_NUMERIC)
    numeric.text("scale", choices=keys.SCALE)
    categorical.text("impute", choices=keys.IMPUTE_CATEGORICAL)
    _onehot_limits(categorical, categorical.text("encode", "onehot", choices=keys.ENCODE), issues)
    pca = pre.raw("pca")
    if pca is not None and not (
        (is_number(pca) and 0 < pca < 1)
        or (isinstance(pca, int) and not isinstance(pca, bool) and pca >= 1)
    ):
        issues.wrong(
            pre.key("pca"), pca, "a number of components >= 1, or a variance fraction in (0, 1)"
        )
        pca = None
    return specs.PreprocessSpec(
        numeric=specs.frozen_map(numeric.data),
        categorical=specs.frozen_map(categorical.data),
        pca=pca,
        select_k=pre.integer("select_k", None, minimum=1),
        datetime=_datetime(pre, issues),
    )


def _onehot_limits(cat: Section, encode: str, issues: Issues) -> None:
    """``min_frequency`` (a count >= 1, or a share in (0, 1)) and ``max_categories`` (>= 2:
    one column is the infrequent one) go to the one-hot encoder, so only with onehot."""
    freq = cat.raw("min_frequency")
    if freq is not None and not (
        (is_number(freq) and 0 < freq < 1) or (is_int(freq) and freq >= 1)
    ):
        issues.wrong(cat.key("min_frequency"), freq, "a count >= 1, or a share in (0, 1)")
    cat.integer("max_categories", None, minimum=2)
    for key in ("min_frequency", "max_categories"):
        if cat.has(key) and encode != "onehot":
            issues.add(
                cat.key(key),
                f"{key} applies to one-hot encoding only",
                expected="encode: onehot",
                got=repr(encode),
                hint=f"drop {key}, or set preprocess.categorical.encode=onehot",
            )


def _datetime(pre: Section, issues: Issues) -> Mapping[str, Any]:
    """``preprocess.datetime``: {parts: [calendar parts], epoch: bool}, at least one output."""
    dt = pre.mapping("datetime", {"parts", "epoch"})
    parts = dt.str_list("parts")
    epoch = dt.flag("epoch", True)
    for part in parts:
        if part not in specs.DATETIME_PARTS:
            hint = did_you_mean(part, specs.DATETIME_PARTS)
            issues.wrong(dt.key("parts"), part, f"parts among {one_of(specs.DATETIME_PARTS)}", hint)
    if dt.has("parts") and not parts and not epoch:
        issues.add(
            dt.path,
            "no parts and no epoch leaves a datetime column with no feature",
            expected="some parts, or epoch: true",
            got="parts: [], epoch: false",
            hint="drop the column with data.drop instead",
        )
    return specs.frozen_map(dt.data)


def sweep_spec(top: Section, issues: Issues) -> specs.SweepSpec | None:
    if not top.has("sweep"):
        return None
    sweep = top.mapping("sweep", keys.SWEEP)
    budget = sweep.mapping("budget", keys.SWEEP_BUDGET)
    return specs.SweepSpec(
        strategy=sweep.text("strategy", "grid", choices=keys.SWEEP_STRATEGIES),
        trials=sweep.integer("trials", 10, minimum=1),
        timeout_s=sweep.number("timeout_s", None, low=0),
        budget=specs.frozen_map({k: budget.number(k, low=0) for k in budget.data}),
        pruning=sweep.flag("pruning", False),
        grow=sweep.flag("grow", True),
        halving=_halving(sweep.mapping("halving", keys.HALVING), issues),
    )


def _halving(section: Section, issues: Issues) -> specs.HalvingSpec:
    """``sweep.halving``: scikit-learn's names and defaults (HalvingGridSearchCV)."""
    d = specs.HalvingSpec()
    min_resources = section.raw("min_resources", d.min_resources)
    if not (
        min_resources in keys.HALVING_MIN_RESOURCES
        or (is_int(min_resources) and min_resources >= 1)
    ):
        issues.wrong(
            section.key("min_resources"),
            min_resources,
            one_of(keys.HALVING_MIN_RESOURCES) + " or an integer >= 1",
            did_you_mean(str(min_resources), keys.HALVING_MIN_RESOURCES),
        )
        min_resources = d.min_resources
    return specs.HalvingSpec(
        factor=section.integer("factor", d.factor, minimum=2),
        resource=section.text("resource", d.resource),
        min_resources=min_resources,
        max_resources=section.integer("max_resources", None, minimum=1),
        aggressive_elimination=section.flag("aggressive_elimination", False),
        candidates=section.text("candidates", d.candidates, choices=keys.HALVING_CANDIDATES),
    )


_METRIC_EXPECTED = (
    "a built-in metric or any scikit-learn scorer name of the task "
    "(sklearn.metrics.get_scorer_names(); see docs/training.md#metrics)"
)


def _metric(select: Section, key: str, default: str, task: str | None, issues: Issues) -> str:
    """``select.<key>``: a metric name of ``task`` (``default`` when absent or unknown)."""
    name = select.text(key, default)
    return name if _metric_ok(select, key, name, task, issues) else default


def _metric_ok(select: Section, key: str, name: str, task: str | None, issues: Issues) -> bool:
    """Record a problem unless ``name`` is a built-in or scikit-learn scorer of ``task``."""
    if not task or keys.metric_known(task, name):
        return True
    issues.add(
        select.key(key),
        f"unknown {task} metric",
        expected=_METRIC_EXPECTED,
        got=repr(name),
        hint=did_you_mean(name, keys.metric_choices(task))
        or f"built-ins: {', '.join(keys.metric_names(task))}",
    )
    return False


def select_spec(top: Section, task: str | None, issues: Issues) -> specs.SelectSpec:
    select = top.mapping("select", keys.SELECT)
    default = "rmse" if task == "regression" else "f1"
    metric = _metric(select, "metric", default, task, issues)
    gates = select.mapping("gates")
    for name, expr in gates.data.items():
        if task and not keys.metric_known(task, name):
            issues.add(
                gates.key(name),
                f"unknown {task} metric",
                expected=_METRIC_EXPECTED,
                got=repr(name),
                hint=did_you_mean(name, keys.metric_choices(task)),
            )
        elif not isinstance(expr, str) or not GATE.match(expr):
            issues.wrong(
                gates.key(name),
                expr,
                'a comparison like ">= 0.7" or ">= production + 0.01"',
                hint=f'quote it: {name}: ">= {expr}"' if is_number(expr) else None,
            )
    budget = select.mapping("budget", keys.SELECT_BUDGET)
    tiebreak = _metric(
        select, "tiebreak", "mae" if task == "regression" else "log_loss", task, issues
    )
    extra = tuple(
        name
        for i, name in enumerate(select.str_list("metrics"))
        if _metric_ok(select, f"metrics[{i}]", name, task, issues)
    )
    return specs.SelectSpec(
        metric=metric,
        greater_is_better=keys.greater_is_better(metric),
        tiebreak=tiebreak,
        tiebreak_greater_is_better=keys.greater_is_better(tiebreak),
        gates=specs.frozen_map({k: str(v) for k, v in gates.data.items()}),
        budget=specs.frozen_map({k: budget.number(k, low=0) for k in budget.data}),
        metrics=extra,
        tradeoff=_tradeoff(select, issues) if select.has("tradeoff") else None,
    )


def _tradeoff(select: Section, issues: Issues) -> specs.TradeoffSpec | None:
    """``select.tradeoff``: a tolerance (a fraction below 1 when relative) and at least one
    positive cost weight."""
    section = select.mapping("tradeoff", keys.SELECT_TRADEOFF)
    if not section.has("tolerance"):
        issues.missing(
            section.key("tolerance"),
            "a number >= 0",
            hint="set select.tradeoff.tolerance, e.g. 0.01: the score the cheaper model may give up",
        )
    relative = section.flag("relative", False)
    tolerance = section.number(
        "tolerance", 0.0, low=0, high=1 if relative else None, low_inclusive=True
    )
    before = len(issues.problems)
    cost = section.mapping("cost", keys.TRADEOFF_COST)
    weights = {k: cost.number(k, low=0, low_inclusive=True) for k in cost.data}
    weights = {k: w for k, w in weights.items() if w is not None}
    if not any(weights.values()) and len(issues.problems) == before:
        issues.add(
            cost.path,
            "no cost to trade off against",
            expected="a weight > 0 for at least one of " + ", ".join(keys.TRADEOFF_COST),
            got=repr(dict(cost.data)) if cost.data else "nothing",
            hint="e.g. select.tradeoff.cost: {latency_ms: 1.0, size_mb: 0.1}",
        )
    return specs.TradeoffSpec(
        tolerance=tolerance, relative=relative, cost=specs.frozen_map(weights)
    )


def deploy_spec(top: Section, name: str | None, issues: Issues) -> specs.DeploySpec:
    deploy = top.mapping("deploy", keys.DEPLOY)
    bento = deploy.mapping("bento", keys.BENTO)
    default_name = (name or "model").lower()
    bento_name = bento.text("name", default_name)
    if not BENTO_NAME.match(bento_name):
        issues.add(
            bento.key("name") if bento.has("name") else "name",
            "not a valid BentoML model name",
            expected="lowercase letters, digits, '.', '_' or '-' (max 63), starting and ending "
            "with a letter or digit",
            got=repr(bento_name),
            hint="set deploy.bento.name to a valid name",
        )
    batching = bento.mapping("batching", {"max_batch_size", "max_latency_ms"})
    batching.integer("max_batch_size", minimum=1)
    batching.number("max_latency_ms", low=0)
    promote = deploy.data.get("promote", "staging")
    if promote is not None and promote not in keys.ALIASES:
        issues.add(
            deploy.key("promote"),
            "unknown alias",
            expected=one_of(keys.ALIASES) + " or null (package only)",
            got=repr(promote),
            hint=did_you_mean(str(promote), keys.ALIASES) or "use staging or production",
        )
    return specs.DeploySpec(
        bento=specs.BentoSpec(
            name=bento_name,
            batching=specs.frozen_map(batching.data),
            workers=bento.integer("workers", specs.BentoSpec.workers, minimum=1),
        ),
        enabled=deploy.flag("enabled", True),
        promote=promote if isinstance(promote, str) or promote is None else "staging",
        target=deploy.text("target", "bento", choices=keys.DEPLOY_TARGETS),
        smoke=deploy.flag("smoke", True),
        auth_token_env=deploy.text("auth_token_env"),
        log_requests=deploy.flag("log_requests", False),
        port=deploy.integer("port", 3000, minimum=1, maximum=65535),
        auth=specs.AuthSpec(
            protect_metrics=deploy.mapping("auth", keys.AUTH).flag("protect_metrics", False)
        ),
        fallback=deploy.text("fallback", None, choices=("previous",)),
    )


def cluster_spec(top: Section, issues: Issues) -> specs.ClusterSpec:
    cluster = top.mapping("cluster", keys.CLUSTER)
    kind = cluster.text("kind", "local", choices=keys.CLUSTER_KINDS)
    address = cluster.text("address", required=kind == "remote")
    if address is not None and not DASK_ADDRESS.match(address):
        issues.wrong(cluster.key("address"), address, "a scheduler address like tcp://host:8786")
    memory = cluster.raw("memory_limit")
    if memory is not None and not isinstance(memory, str | int):
        issues.wrong(cluster.key("memory_limit"), memory, 'a size like "4GB" or a byte count')
    resources = cluster.mapping("resources")
    return specs.ClusterSpec(
        kind=kind,
        workers=cluster.integer("workers", specs.ClusterSpec.workers, minimum=1),
        threads_per_worker=cluster.integer(
            "threads_per_worker", specs.ClusterSpec.threads_per_worker, minimum=1
        ),
        address=address,
        memory_limit=None if memory is None else str(memory),
        resources=specs.frozen_map({k: resources.number(k, low=0) for k in resources.data}),
        adaptive=adaptive_spec(cluster, kind, issues),  # issue 16: engine/recipe/adaptive.py
        dashboard=dashboard_setting(cluster.raw("dashboard"), cluster.key("dashboard"), issues),
        pack=cluster.flag("pack", specs.ClusterSpec.pack),
    )


def dashboard_setting(raw: object, key: str, issues: Issues) -> str:
    """``cluster.dashboard`` as on | off | auto (YAML's true and false mean on and off)."""
    setting = specs.dashboard_setting(raw)
    if setting is None:
        issues.wrong(key, raw, "on, off or auto (true and false work too)")
        return specs.ClusterSpec.dashboard
    return setting


def cost_spec(top: Section, issues: Issues) -> specs.CostSpec:
    cost = top.mapping("cost", keys.COST)
    return specs.CostSpec(
        cpu_hour=cost.number("cpu_hour", 0.05, low=0, low_inclusive=True),
        gb_hour=cost.number("gb_hour", 0.005, low=0, low_inclusive=True),
        currency=cost.text("currency", "USD"),
    )
