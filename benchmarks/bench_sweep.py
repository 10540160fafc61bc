"""Sweep benchmark: a 24-configuration RandomForest grid, 5-fold stratified CV accuracy.

Side by side, interleaved over repetitions, each a whole command as a user runs it (Python
start-up and imports included):
  (a) sous run  -- the grid as a Sous sweep on a process LocalCluster (2 workers); also
                   with +sweep.grow=false (every trial fits its forests from scratch)
  (b) hydra -m  -- Hydra's basic launcher running the 24 jobs one after another
  (c) GridSearchCV(n_jobs=2)
  ideal         -- the sum of the 120 single fits, measured once in-process, / 2 cores
Also: an unchanged Sous rerun against its cold run, and the engine's overhead per node.

All ways cross-validate the same rows (Sous's train+valid split; the test rows stay out of
selection in Sous) with the same folds, and must find the same best configuration with the
same scores. Run: `make bench` or `python benchmarks/bench_sweep.py [--reps N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
sys.path.insert(0, str(PEERS))

from grid_common import FOLDS, GRID, SEED, configs, estimator, splitter  # noqa: E402

RECIPE = """
defaults:
  - /cluster: local
  - _self_
name: bench_grid
task: classification
target: y
seed: {seed}
data:
  sources:
    table: {{kind: parquet, path: {path}}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.1}}
cv: {{kind: stratified_kfold, folds: {folds}}}
preprocess: {{numeric: {{impute: none, scale: none}}}}
models:
  rf:
    _target_: sklearn.ensemble.RandomForestClassifier
    n_jobs: 1
    search:
      n_estimators: {{choice: {n_estimators}}}
      max_depth: {{choice: {max_depth}}}
      min_samples_leaf: {{choice: {min_samples_leaf}}}
sweep: {{strategy: grid}}
select: {{metric: accuracy}}
deploy: {{enabled: false}}
"""


def make_workspace(tmp: Path) -> dict[str, str]:
    """The data as parquet (for Sous) and Sous's selection rows as .npz (for the peers)."""
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=20000, n_features=30, n_informative=12, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["y"] = y
    frame.to_parquet(tmp / "data.parquet", index=False)
    recipe = tmp / "bench_grid.yaml"
    recipe.write_text(
        RECIPE.format(
            seed=SEED,
            path=tmp / "data.parquet",
            folds=FOLDS,
            **{k: json.dumps(v) for k, v in GRID.items()},
        )
    )
    jobs = tmp / "bench_jobs.yaml"  # the same recipe without a sweep: one job per config
    jobs.write_text(_without_sweep(recipe.read_text()))
    rows = selection_rows(str(recipe))
    np.savez(tmp / "rows.npz", X=X[rows], y=y[rows])
    return {"recipe": str(recipe), "jobs": str(jobs), "npz": str(tmp / "rows.npz")}


def _without_sweep(text: str) -> str:
    lines = text.splitlines()
    start = lines.index("    search:")
    kept = lines[:start] + [ln for ln in lines[start + 4 :] if not ln.startswith("sweep:")]
    return "\n".join(kept) + "\n"


def run_sous_multirun(
    ws: dict[str, str], home: Path, launcher: str
) -> tuple[float, dict[str, object]]:
    """The grid as 24 `sous run -m` jobs on a Hydra launcher (each job a whole recipe run)."""
    env = {**os.environ, "SOUS_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}
    sweep = [
        f"+models.rf.{k}=" + ",".join("null" if v is None else str(v) for v in vals)
        for k, vals in GRID.items()
    ]
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "run",
        ws["jobs"],
        "-m",
        *sweep,
        f"hydra/launcher={launcher}",
    ]
    wall, _ = timed(cmd, env)
    _, out = timed([sys.executable, "-m", "engine", "runs", "leaderboard", "--json"], env)
    best = json.loads(out)[0]
    return wall, {
        "best_params": _grid_params(best["params"]),
        "best_score": best["metrics"]["accuracy"],
    }


def selection_rows(recipe: str) -> np.ndarray:
    """Sous cross-validates train+valid (in that order); the peers get the same rows."""
    from engine import api
    from engine.steps.data import load
    from engine.steps.train import split

    spec = api.validate(recipe)
    frame = load(spec.data.sources[0], pii={}, salt_env="SOUS_PII_SALT")
    holdout = split(frame, target=spec.target, task=spec.task, spec=spec.split, seed=spec.seed)
    return np.concatenate([holdout.train, holdout.valid])


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(
            f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}"
        )
    return wall, out.stdout


def run_sous(ws: dict[str, str], home: Path, *overrides: str) -> tuple[float, dict[str, object]]:
    env = {**os.environ, "SOUS_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}
    cmd = [sys.executable, "-m", "engine", "run", ws["recipe"], *overrides, "--json"]
    wall, out = timed(cmd, env)
    record = json.loads(out)
    best = record["winner"]
    return wall, {
        "best_params": _grid_params(best["params"]),
        "best_score": best["metrics"]["accuracy"],
    }


def run_hydra(ws: dict[str, str], tmp: Path) -> tuple[float, dict[str, object]]:
    out_file = tmp / f"hydra-{time.monotonic_ns()}.jsonl"
    env = {**os.environ, "SOUS_BENCH_NPZ": ws["npz"], "SOUS_BENCH_OUT": str(out_file)}
    sweep = [
        f"+{k}=" + ",".join("null" if v is None else str(v) for v in vals)
        for k, vals in GRID.items()
    ]
    cmd = [
        sys.executable,
        str(PEERS / "hydra_app.py"),
        "-m",
        *sweep,
        "hydra/launcher=basic",
        f"hydra.sweep.dir={tmp / 'hydra-multirun'}",
    ]
    wall, _ = timed(cmd, env)
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    best = max(rows, key=lambda r: r["score"])  # first max: grid order, like GridSearchCV
    return wall, {"best_params": best["params"], "best_score": best["score"]}


def run_gridsearch(ws: dict[str, str]) -> tuple[float, dict[str, object]]:
    env = {**os.environ, "SOUS_BENCH_NPZ": ws["npz"]}
    wall, out = timed([sys.executable, str(PEERS / "gridsearch.py")], env)
    return wall, json.loads(out.strip().splitlines()[-1])


def ideal(ws: dict[str, str]) -> tuple[float, float]:
    """Sum of the 120 single fits (and their scoring) in one process, over 2 cores; and the
    same for the 60 fits of the largest forests only, the tree-building work left when the
    smaller forests are grown into the larger ones (Sous's ``sweep.grow``)."""
    data = np.load(ws["npz"])
    X, y = data["X"], data["y"]
    largest = max(GRID["n_estimators"])  # type: ignore[type-var]
    total = grown = 0.0
    for params in configs():
        for train, test in splitter().split(X, y):
            t0 = time.perf_counter()
            est = estimator(params).fit(X[train], y[train])
            est.score(X[test], y[test])
            spent = time.perf_counter() - t0
            total += spent
            grown += spent if params["n_estimators"] == largest else 0.0
    return total / 2, grown / 2


def node_overhead(n: int = 200) -> dict[str, float]:
    """Engine time per node beyond the step itself (ms): a chain (each node waits for the
    previous: a full round trip through the scheduler) and a fan-out (independent nodes, as
    in a sweep; CPU time of the 2 workers spread over the nodes)."""
    import noop

    from engine.execution.compile import compile_plan
    from engine.execution.executors import DaskExecutor, SyncExecutor
    from engine.plan import Plan, PlanBuilder, Ref
    from engine.specs import ClusterSpec
    from engine.store.cache import ArtifactCache

    def chain() -> Plan:
        b = PlanBuilder("chain")
        key = b.add("n0", noop.bump, {"value": 0, "by": 1})
        for i in range(1, n):
            key = b.add(f"n{i}", noop.bump, {"value": Ref(key), "by": 1})
        return Plan("chain", dict(b.nodes), {"last": key})

    def fan_out() -> Plan:
        b = PlanBuilder("fan")
        keys = [b.add(f"n{i}", noop.bump, {"value": i, "by": 1}) for i in range(n)]
        return Plan("fan", dict(b.nodes), {f"n{i}": k for i, k in enumerate(keys)})

    result = {}
    executors = (
        ("sync", SyncExecutor, 1),
        ("dask", lambda: DaskExecutor(ClusterSpec(workers=2)), 2),
    )
    for name, make, slots in executors:
        for shape, plan in (("chain", chain), ("fan-out", fan_out)):
            with tempfile.TemporaryDirectory() as d, make() as ex:
                cache, p = ArtifactCache(d), plan()
                compiled = compile_plan(p, cache, p.outputs.values())
                t0 = time.perf_counter()
                ex.run(compiled, d, lambda t: None)
                wall = time.perf_counter() - t0
                steps = sum(cache.meta(k).wall_s for k in p.nodes)
            busy = wall if shape == "chain" else wall * slots
            result[f"{name} {shape}"] = (busy - steps) / n * 1000
    return result


def _grid_params(params: dict[str, object]) -> dict[str, object]:
    return {k: params[k] for k in GRID}


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sous-bench-") as d:
        tmp = Path(d)
        ws = make_workspace(tmp)
        results: dict[str, dict[str, object]] = {}
        ways: list[tuple[str, Callable[[int], tuple[float, dict[str, object]]]]] = [
            ("sous", lambda r: run_sous(ws, tmp / f"home-{r}")),
            ("sous_rerun", lambda r: run_sous(ws, tmp / f"home-{r}")),
            ("sous_fresh", lambda r: run_sous(ws, tmp / f"fresh-{r}", "+sweep.grow=false")),
            ("hydra_basic", lambda r: run_hydra(ws, tmp)),
            ("gridsearch", lambda r: run_gridsearch(ws)),
            ("sous_m_basic", lambda r: run_sous_multirun(ws, tmp / f"mr-basic-{r}", "basic")),
            ("sous_m_dask", lambda r: run_sous_multirun(ws, tmp / f"mr-dask-{r}", "dask")),
        ]
        walls: dict[str, list[float]] = {name: [] for name, _ in ways}
        for rep in range(args.reps):  # interleaved: each repetition runs every way once
            for name, way in ways:
                wall, result = way(rep)
                walls[name].append(wall)
                results[name] = result
                print(f"rep {rep + 1}/{args.reps}  {name:<12} {wall:7.2f} s", flush=True)
        ideal_s, ideal_grown_s = ideal(ws)
        overhead = node_overhead()
    report(walls, results, (ideal_s, ideal_grown_s), overhead)
    return 0 if agree(results) else 1


def agree(results: dict[str, dict[str, object]]) -> bool:
    ref = results["gridsearch"]
    ok = True
    for name, r in results.items():
        same = (
            r["best_params"] == ref["best_params"]
            and abs(float(r["best_score"]) - float(ref["best_score"])) < 1e-9
        )  # type: ignore[arg-type]
        ok &= same
        print(
            f"  {name:<12} best {r['best_params']} accuracy {float(r['best_score']):.6f}  {'same' if same else 'DIFFERENT'}"
        )  # type: ignore[arg-type]
    return ok


def report(
    walls: dict[str, list[float]],
    results: dict[str, dict[str, object]],
    ideals: tuple[float, float],
    overhead: dict[str, float],
) -> None:
    sous = median(walls["sous"])
    ideal_s, ideal_grown_s = ideals
    print("\n24-config RandomForest grid, 5-fold CV, 2 cores (median wall seconds, whole commands)")
    print(f"  {'way':<26}{'median s':>10}{'vs sous':>10}")
    rows = [
        ("(a) sous sweep (Dask)", sous),
        ("(b) hydra basic launcher", median(walls["hydra_basic"])),
        ("(c) GridSearchCV n_jobs=2", median(walls["gridsearch"])),
        ("2-core ideal (fits / 2)", ideal_s),
        ("  of the largest forests", ideal_grown_s),
        ("sous unchanged rerun", median(walls["sous_rerun"])),
        *[
            ("sous, every fit fresh", median(walls[key]))
            for key in ("sous_fresh",)
            if walls.get(key)
        ],
        *[
            (label, median(walls[key]))
            for label, key in (
                ("sous -m, basic launcher", "sous_m_basic"),
                ("sous -m, Dask launcher", "sous_m_dask"),
            )
            if walls.get(key)
        ],
    ]
    for name, s in rows:
        print(f"  {name:<26}{s:>10.2f}{s / sous:>9.2f}x")
    print("\ntargets:")
    print(f"  hydra basic / sous   = {median(walls['hydra_basic']) / sous:.2f}x  (target >= 2.0x)")
    print(f"  sous / GridSearchCV  = {sous / median(walls['gridsearch']):.2f}x  (target <= 1.05x)")
    print(f"  rerun / cold         = {median(walls['sous_rerun']) / sous:.1%}  (target <= 5%)")
    figures = ", ".join(f"{k} {v:.2f} ms" for k, v in overhead.items())
    print(f"  overhead per node    = {figures}  (target <= 5 ms)")
    print("\nbest configuration found:")


if __name__ == "__main__":
    raise SystemExit(main())
