"""engine.halving against scikit-learn's own successive halving: the schedule
(``n_resources_``, ``n_candidates_``), the survivors' order (``_top_k``, ties and NaNs), the
subsampled folds (``_SubsampleMetaSplitter``), the source's iterations, and the recipe
checks of ``sweep.halving`` (exit 2)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import api
from engine.errors import RecipeError, UserError
from engine.halving import schedule, subsample, top_k
from engine.specs import HalvingSpec

CASES = [
    # n_candidates, n_samples, n_splits, classes (None: regression), factor, min, max, aggressive
    (21, 558, 3, 2, 3, "exhaust", None, False),
    (21, 558, 3, 2, 3, "smallest", None, False),
    (21, 558, 3, 2, 3, "smallest", None, True),
    (16, 400, 3, None, 2, 60, None, True),
    (16, 400, 3, None, 2, "exhaust", None, False),
    (7, 1000, 5, 3, 2, "smallest", None, False),
    (100, 300, 2, 2, 3, "smallest", None, True),
    (100, 300, 2, 2, 4, 10, 200, False),
    (1, 120, 3, 2, 3, "exhaust", None, False),
    (30, 5000, 4, None, 5, "exhaust", 2000, False),
]


def _sklearn(n_candidates, n_samples, n_splits, classes, factor, min_r, max_r, aggressive):
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV, KFold, StratifiedKFold

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_samples, 2))
    if classes is None:
        est, y, cv = DummyRegressor(), rng.normal(size=n_samples), KFold(n_splits)
        grid = {"quantile": [i / (n_candidates + 1) for i in range(1, n_candidates + 1)]}
    else:
        est, cv = DummyClassifier(strategy="prior"), StratifiedKFold(n_splits)
        y = np.arange(n_samples) % classes
        grid = {"random_state": list(range(n_candidates))}
    search = HalvingGridSearchCV(
        est,
        grid,
        cv=cv,
        factor=factor,
        min_resources=min_r,
        max_resources="auto" if max_r is None else max_r,
        aggressive_elimination=aggressive,
        random_state=0,
        refit=False,
    )
    return search.fit(x, y)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_schedule_is_halving_grid_search_cvs(case) -> None:
    n_candidates, n_samples, n_splits, classes, factor, min_r, max_r, aggressive = case
    sk = _sklearn(*case)
    options = HalvingSpec(
        factor=factor, min_resources=min_r, max_resources=max_r, aggressive_elimination=aggressive
    )
    ours = schedule(
        n_candidates, options, n_samples=n_samples, n_splits=n_splits, n_classes=classes
    )
    assert list(ours.n_resources) == list(sk.n_resources_)
    assert list(ours.n_candidates) == list(sk.n_candidates_)
    assert ours.min_resources == sk.min_resources_ and ours.max_resources == sk.max_resources_
    assert ours.n_required_iterations == sk.n_required_iterations_
    assert ours.n_possible_iterations == sk.n_possible_iterations_


def test_a_param_resource_needs_no_data() -> None:
    options = HalvingSpec(resource="n_estimators", max_resources=81)
    plan = schedule(30, options)
    assert plan.n_resources == (3, 9, 27, 81) and plan.n_candidates == (30, 10, 4, 2)
    with pytest.raises(UserError, match="max_resources"):
        schedule(30, HalvingSpec(resource="n_estimators"))
    with pytest.raises(UserError, match="greater than max_resources"):
        schedule(30, HalvingSpec(min_resources=500), n_samples=100)


@pytest.mark.parametrize("seed", range(20))
def test_top_k_keeps_scikit_learns_survivors_in_its_order(seed: int) -> None:
    from sklearn.model_selection._search_successive_halving import _top_k

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    scores = rng.choice([0.5, 0.6, 0.7, 0.8, math.nan], size=n)  # many ties, some NaNs
    k = int(rng.integers(1, n + 1))
    results = {"iter": [0] * n, "mean_test_score": scores, "params": list(range(n))}
    assert top_k(list(scores), k) == [int(p) for p in _top_k(results, k, 0)]


def test_subsample_is_the_meta_splitters() -> None:
    from sklearn.model_selection import StratifiedKFold
    from sklearn.model_selection._search_successive_halving import _SubsampleMetaSplitter

    y = np.arange(300) % 3
    x = np.zeros((300, 1))
    base = StratifiedKFold(4, shuffle=True, random_state=1)
    pairs = tuple(base.split(x, y))
    meta = _SubsampleMetaSplitter(
        base_cv=base, fraction=54 / 300, subsample_test=True, random_state=7
    )
    for (tr, va), (str_, sva) in zip(subsample(pairs, 54 / 300, 7), meta.split(x, y), strict=True):
        assert np.array_equal(tr, str_) and np.array_equal(va, sva)


# ---------------------------------------------------------------- recipe checks (exit 2)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    return tmp_path


def test_the_halving_config_group_validates(home: Path) -> None:
    spec = api.validate("iris", ["sweep=halving"])
    assert spec.sweep is not None and spec.sweep.strategy == "halving"
    assert spec.sweep.halving == HalvingSpec()


@pytest.mark.parametrize(
    "override, where",
    [
        ("++sweep.halving.factor=1", "sweep.halving.factor"),
        ("++sweep.halving.min_resources=lots", "sweep.halving.min_resources"),
        ("++sweep.halving.min_resources=0", "sweep.halving.min_resources"),
        ("++sweep.halving.max_resources=0", "sweep.halving.max_resources"),
        ("++sweep.halving.candidates=sobol", "sweep.halving.candidates"),
        ("++sweep.halving.resource=max_iter", "sweep.halving.max_resources"),
        ("++sweep.halving.typo=1", "sweep.halving"),
    ],
)
def test_bad_options_are_recipe_errors(home: Path, override: str, where: str) -> None:
    with pytest.raises(RecipeError) as err:
        api.validate("iris", ["sweep=halving", override])
    assert where in str(err.value)


def test_a_searched_resource_is_refused(home: Path) -> None:
    with pytest.raises(RecipeError) as err:
        api.validate(
            "iris",
            [
                "sweep=halving",
                "++sweep.halving.resource=n_estimators",
                "++sweep.halving.max_resources=90",
            ],
        )
    assert "models.rf.search.n_estimators" in str(err.value)


def test_the_cli_exits_2_without_a_traceback(home: Path) -> None:
    env = {**os.environ, "SOUS_HOME": str(home / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "validate", "iris", "sweep=halving",
         "++sweep.halving.factor=1"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "sweep.halving.factor" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- the source's iterations


def _source(home: Path):
    from engine.halving import Halving

    spec = api.validate(
        "iris",
        [
            "model=logreg",
            "sweep=halving",
            "++sweep.halving.resource=max_iter",
            "++sweep.halving.max_resources=90",
        ],
    )
    (model,) = spec.models
    return Halving(None, spec, None, model, load=None)  # type: ignore[arg-type]


def test_the_source_hands_out_an_iteration_then_waits_for_its_scores(home: Path) -> None:
    source = _source(home)  # 5 C values, factor 3, max_iter 10 / 30 / 90 -> 2 iterations
    assert source.plan_ is not None and source.plan_.n_resources == (30, 90)
    first = [source.ask() for _ in range(5)]
    assert all(t is not None for t in first) and source.ask() is None and source.waiting
    assert {t.params["max_iter"] for t in first if t} == {30}
    scores = [0.5, 0.9, 0.7, 0.9, 0.1]  # a tie for the best: scikit-learn's order decides
    for trial, score in zip(first, scores, strict=True):
        assert trial is not None
        source.tell(trial.number, score)
    assert not source.waiting and not source.done
    second = [source.ask(), source.ask()]
    assert source.ask() is None and source.waiting
    kept = [first[i] for i in top_k(scores, 2)]
    assert [t.params for t in second if t] == [{**t.params, "max_iter": 90} for t in kept if t]
    assert source.final == tuple(t.number for t in kept if t)  # stopped here: the survivors
    assert sorted(source.eliminated) == sorted(t.number for t in first if t and t not in kept)
    assert {e.iteration for e in source.eliminated.values()} == {0}
    assert {e.n_resources for e in source.eliminated.values()} == {30}
    for trial, score in zip(second, [0.8, 0.95], strict=True):
        assert trial is not None
        source.tell(trial.number, score)
    assert source.done and not source.waiting and source.ask() is None
    assert source.final == tuple(t.number for t in second if t)


def test_a_lower_is_better_metric_keeps_the_lowest(home: Path) -> None:
    from engine.halving import Halving

    spec = api.validate(
        "diabetes",
        [
            "model=ridge",
            "sweep=halving",
            "sweep.trials=9",
            "++sweep.halving.candidates=random",
            "++sweep.halving.resource=max_iter",
            "++sweep.halving.max_resources=9",
        ],
    )
    (model,) = spec.models
    source = Halving(None, spec, None, model, load=None)  # type: ignore[arg-type]
    assert not spec.select.greater_is_better  # rmse
    trials = []
    while (t := source.ask()) is not None:
        trials.append(t)
    assert len(trials) == 9 and source.plan_ is not None and source.plan_.n_resources == (1, 3, 9)
    for i, t in enumerate(trials):
        source.tell(t.number, float(i))  # the first trial has the lowest rmse
    kept = [source.ask(), source.ask(), source.ask()]
    assert source.ask() is None
    assert [t.params["alpha"] for t in kept if t] == [trials[i].params["alpha"] for i in (2, 1, 0)]
    assert sorted(source.eliminated) == [t.number for t in trials[3:]]


def test_the_benchmark_reads_iterations_back_from_a_record() -> None:
    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    sys.path[:0] = [str(bench), str(bench / "peers")]
    try:
        import bench_halving
    finally:
        for p in (str(bench), str(bench / "peers")):
            sys.path.remove(p)
    pruned = [{"iteration": 0, "n_resources": 266}] * 16 + [
        {"iteration": 1, "n_resources": 798}
    ] * 5
    resources, candidates = bench_halving.iterations({"pruned": pruned}, 3)
    assert resources == [266, 798] and candidates == [24, 8, 3]


def test_sous_plan_shows_every_iteration_s_trials_as_proposed_at_run_time(home: Path) -> None:
    static, _ = api.static_plan(api.validate("iris", ["sweep=halving"]))
    # logreg: 5 candidates -> 5 + 2 trials; rf: 9 -> 9 + 3 + 1
    assert {(d.model, d.strategy, d.max_trials) for d in static.deferred} == {
        ("logreg", "halving", 7),
        ("rf", "halving", 13),
    }
