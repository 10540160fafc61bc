"""Sweep benchmark: 24-configuration RandomForest grids, 5-fold stratified CV accuracy.

Two grids (``--only`` picks one):
  growing   -- n_estimators [6, 12] x max_depth x min_samples_leaf on 20k x 30 rows: Sous
               grows the larger forests from the smaller ones (all ways below);
  nogrowth  -- n_estimators fixed (16), max_depth [6, 10, 14, None] x min_samples_leaf
               [1, 2, 4, 8, 16, 32] on harder data (20k x 40, 20 informative, 5% label noise):
               nothing to grow, so it measures the engine's own overhead against
               GridSearchCV(n_jobs=2) alone, plus where Sous's time went (from the run
               record's step rows: start-up, fits, idle workers, refit and test);
  cheap     -- n_estimators fixed (4), max_depth [2 .. None] x min_samples_leaf [1 .. 128]
               (48 configurations) on 3k x 10 rows: fits of a few milliseconds, where
               Dask's own cost per task weighs most. Sous with packing (the default) and
               with cluster.pack=false, against GridSearchCV(n_jobs=2).
Quick overhead check: `python benchmarks/bench_sweep.py --only nogrowth --reps 1`; the
engine's overhead per node alone, beside bare Dask futures on the same cluster:
`python benchmarks/bench_sweep.py --only overhead`.

For the growing grid:

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
same scores. Run: `make bench` or `python benchmarks/bench_sweep.py [--reps N] [--only GRID]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
sys.path.insert(0, str(PEERS))

from grid_common import FOLDS, GRIDS, SEED, configs, estimator, splitter  # noqa: E402

GRID = GRIDS["growing"]  # the grid of the parts that compare every way
# the data of each grid: make_classification arguments
DATA = {
    "growing": {"n_samples": 20000, "n_features": 30, "n_informative": 12},
    "nogrowth": {"n_samples": 20000, "n_features": 40, "n_informative": 20, "flip_y": 0.05},
    "cheap": {"n_samples": 3000, "n_features": 10, "n_informative": 5, "flip_y": 0.05},
}

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


# one way a benchmark runs: its name, and a repetition number -> (wall s, result)
Way = tuple[str, Callable[[int], tuple[float, dict[str, object]]]]


def make_workspace(tmp: Path, grid: str = "growing") -> dict[str, str]:
    """The data as parquet (for Sous) and Sous's selection rows as .npz (for the peers)."""
    import pandas as pd
    from sklearn.datasets import make_classification

    tmp = tmp / grid
    tmp.mkdir(parents=True, exist_ok=True)
    X, y = make_classification(**DATA[grid], random_state=0)  # type: ignore[arg-type]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["y"] = y
    frame.to_parquet(tmp / "data.parquet", index=False)
    recipe = tmp / "bench_grid.yaml"
    recipe.write_text(
        RECIPE.format(
            seed=SEED,
            path=tmp / "data.parquet",
            folds=FOLDS,
            **{k: json.dumps(v) for k, v in GRIDS[grid].items()},
        )
    )
    jobs = tmp / "bench_jobs.yaml"  # the same recipe without a sweep: one job per config
    jobs.write_text(_without_sweep(recipe.read_text()))
    rows = selection_rows(str(recipe))
    np.savez(tmp / "rows.npz", X=X[rows], y=y[rows])
    return {
        "recipe": str(recipe),
        "jobs": str(jobs),
        "npz": str(tmp / "rows.npz"),
        "grid": grid,
    }


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
        "best_params": _grid_params(best["params"], ws["grid"]),
        "best_score": best["metrics"]["accuracy"],
        "record": record,
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
    env = {**os.environ, "SOUS_BENCH_NPZ": ws["npz"], "SOUS_BENCH_GRID": ws["grid"]}
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


def node_overhead(n: int = 200, reps: int = 3) -> dict[str, float]:
    """Engine time per node beyond the step itself (ms), the median of ``reps`` interleaved
    repetitions: a chain (each node reads the previous one; Sous runs a linear chain as one
    Dask task) and a fan-out (independent nodes, as in a sweep: the wall of the 2 workers
    spread over the nodes). Next to Sous on Dask, the floor on the same cluster in the same
    invocation: the same no-op function as bare ``client.submit`` tasks, a fan-out and a chain
    of futures (a scheduler round trip per node), so the ratio holds on a busy machine too."""
    import noop

    from engine.execution.compile import compile_plan
    from engine.execution.executors import DaskExecutor, SyncExecutor
    from engine.execution.sessions import DaskSession, run_compiled
    from engine.plan import Plan, PlanBuilder, Ref
    from engine.specs import ClusterSpec
    from engine.store.cache import ArtifactCache

    # Each node has its own step name but all share one label, the key's readable prefix,
    # as a sweep's fits do (``fit:MODEL:FOLD``, never the trial): Dask keeps state per task
    # prefix, and a prefix per node made each task cost more the more tasks were held
    # (docs/benchmarks.md). The bare futures share the prefix ``bump`` likewise.
    def chain(tag: int) -> Plan:
        b = PlanBuilder("chain")
        key = b.add("n0", noop.bump, {"value": tag, "by": 1}, label="bump")
        for i in range(1, n):
            key = b.add(f"n{i}", noop.bump, {"value": Ref(key), "by": 1}, label="bump")
        return Plan("chain", dict(b.nodes), {"last": key})

    def fan_out(tag: int) -> Plan:
        b = PlanBuilder("fan")
        keys = [b.add(f"n{i}", noop.bump, {"value": i, "by": tag}, label="bump") for i in range(n)]
        return Plan("fan", dict(b.nodes), {f"n{i}": k for i, k in enumerate(keys)})

    def cpu(ex: Any) -> tuple[float, float]:
        """CPU seconds so far of this process (the driver, and a LocalCluster's scheduler)
        and of the workers: on shared cores CPU time says more than wall time."""
        workers = sum(ex.client.run(time.process_time).values()) if ex.name == "dask" else 0.0
        return time.process_time(), workers

    def per_node(ex: Any, shape: str, wall: float, cpu0: tuple[float, float]) -> list[float]:
        """ms per node: the wall over the slots, then the CPU of the driver and the workers."""
        cpu1 = cpu(ex)
        busy = wall if shape == "chain" else wall * ex.slots
        used = [(after - before) / n * 1000 for before, after in zip(cpu0, cpu1, strict=True)]
        return [busy / n * 1000, *used]

    def sous(ex: Any, shape: str, tag: int, packed: bool = True) -> list[float]:
        """Sous's figure: (wall x slots - the steps' own wall) / nodes, through the executor
        (one graph of futures for the batch, values gathered at the end; on Dask, cheap
        nodes packed unless ``packed`` is False); then the CPU per node of the driver and
        of the workers."""
        with tempfile.TemporaryDirectory() as d:
            cache, p = ArtifactCache(d), (chain if shape == "chain" else fan_out)(tag)
            compiled = compile_plan(p, cache, p.outputs.values())
            cpu0, t0 = cpu(ex), time.perf_counter()
            if packed:
                ex.run(compiled, d, lambda t: None)
            else:
                run_compiled(DaskSession(ex.client, d, lambda t: None), compiled, lambda t: None)
            wall = time.perf_counter() - t0
            figures = per_node(ex, shape, wall, cpu0)
            steps = sum(cache.meta(k).wall_s for k in p.nodes)
        return [figures[0] - steps / n * 1000, *figures[1:]]

    def bare(ex: Any, shape: str, tag: int) -> list[float]:
        """The floor: ``n`` no-op tasks as plain Dask futures (nothing persisted)."""
        client, futures = ex.client, []
        cpu0, t0 = cpu(ex), time.perf_counter()
        for i in range(n):
            value = futures[-1] if shape == "chain" and futures else i
            futures.append(client.submit(noop.bump, value=value, by=tag, key=f"bare-{tag}-{i}"))
        client.gather(futures)
        wall = time.perf_counter() - t0
        del futures
        return per_node(ex, shape, wall, cpu0)

    figures: dict[str, list[float]] = {}
    tag = 0
    for name, make in (
        ("sync", SyncExecutor),
        ("dask", lambda: DaskExecutor(ClusterSpec(workers=2))),
    ):
        with make() as ex:
            for _ in range(reps):
                for shape in ("chain", "fan-out"):
                    tag += 1
                    ways: list[tuple[str, Callable[..., list[float]]]] = [(f"{name} {shape}", sous)]
                    if name == "dask":
                        ways.append((f"bare dask {shape}", bare))
                    if name == "dask" and shape == "fan-out":
                        ways.append(("dask unpacked", partial(sous, packed=False)))
                    for label, way in ways:
                        wall, driver, workers = way(ex, shape, tag)
                        figures.setdefault(label, []).append(wall)
                        if name == "dask":
                            figures.setdefault(f"{label} cpu driver", []).append(driver)
                            figures.setdefault(f"{label} cpu workers", []).append(workers)
    return {k: median(v) for k, v in figures.items()}


def print_overhead(overhead: dict[str, float]) -> None:
    """Sous's figures per node, each Dask one beside bare Dask's on the same cluster."""
    print("  overhead per node (ms beyond the step, median; target <= 5 ms on the fan-out):")
    print(f"    sync: chain {overhead['sync chain']:.2f}, fan-out {overhead['sync fan-out']:.2f}")
    for shape in ("chain", "fan-out"):
        sous, floor = overhead[f"dask {shape}"], overhead[f"bare dask {shape}"]
        print(
            f"    dask {shape:<8} sous {sous:6.2f}   bare Dask futures {floor:6.2f}"
            f"   sous / bare {sous / floor:.2f}x"
        )
        cpu = [
            overhead.get(f"{who} {shape} cpu {part}")
            for who in ("dask", "bare dask")
            for part in ("driver", "workers")
        ]
        if all(c is not None for c in cpu):
            print(
                f"      CPU per node: driver+scheduler {cpu[0]:.2f} (bare {cpu[2]:.2f}),"
                f" workers {cpu[1]:.2f} (bare {cpu[3]:.2f})"
            )
    if "dask unpacked" in overhead:  # what packing saves (cluster.pack: false)
        unpacked = overhead["dask unpacked"]
        print(
            f"    dask fan-out, packing off: {unpacked:.2f}"
            f"   sous / bare {unpacked / overhead['bare dask fan-out']:.2f}x"
        )


def _grid_params(params: dict[str, object], grid: str = "growing") -> dict[str, object]:
    return {k: params[k] for k in GRIDS[grid]}


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (3)")
    parser.add_argument(
        "--only",
        choices=("growing", "nogrowth", "cheap", "overhead"),
        help="run one grid only: `--only nogrowth --reps 1` is the quick overhead check "
        "(a Sous sweep against GridSearchCV(n_jobs=2), and where Sous's time went); "
        "`--only overhead`: the engine's overhead per node alone, beside bare Dask's",
    )
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="sous-bench-") as d:
        tmp = Path(d)
        if args.only in (None, "nogrowth"):
            ok &= no_growth(tmp, args.reps)
        if args.only in (None, "growing"):
            ok &= growing(tmp, args.reps)
        if args.only in (None, "cheap"):
            ok &= cheap(tmp, args.reps)
        if args.only == "overhead":  # the quick check of the engine's overhead per node
            print_overhead(node_overhead(reps=args.reps))
    return 0 if ok else 1


def no_growth(tmp: Path, reps: int) -> bool:
    """The no-growth grid: Sous against GridSearchCV(n_jobs=2), interleaved, and a profile
    of each Sous run from its record's step rows."""
    ws = make_workspace(tmp, "nogrowth")
    ways: list[list[Way]] = [
        [("sous", lambda r: run_sous(ws, tmp / f"nogrowth-home-{r}"))],
        [("gridsearch", lambda r: run_gridsearch(ws))],
    ]
    walls, results = interleave(ways, reps)
    profiles = [
        where_the_time_went(record, wall)
        for wall, record in zip(walls["sous"], results["records"], strict=True)
    ]
    sous, grid = median(walls["sous"]), median(walls["gridsearch"])
    per_fold = fold_overhead(ws)
    print("\nno-growth grid: 24 RandomForest configs (16 trees), 5-fold CV, 20k x 40 rows")
    print(f"  sous sweep (Dask)          {sous:8.2f} s")
    print(f"  GridSearchCV n_jobs=2      {grid:8.2f} s")
    print(f"  sous / GridSearchCV  = {paired(walls, 'sous', 'gridsearch')}  (target <= 1.05x)")
    print("where Sous's time went (median over repetitions, seconds):")
    for part in profiles[0]:
        print(f"  {part:<40}{median([p[part] for p in profiles]):8.2f}")
    print("one fold task in-process, CPU ms (median; what a worker runs per fit):")
    for part, ms in per_fold.items():
        print(f"  {part:<40}{ms:8.1f}")
    return agree({k: v for k, v in results.items() if k != "records"})  # type: ignore[arg-type]


def cheap(tmp: Path, reps: int) -> bool:
    """The cheap grid: Sous with packing (the default) and without, against
    GridSearchCV(n_jobs=2), interleaved, each a whole command."""
    ws = make_workspace(tmp, "cheap")
    ways: list[list[Way]] = [
        [("sous", lambda r: run_sous(ws, tmp / f"cheap-home-{r}"))],
        [("sous_unpacked", lambda r: run_sous(ws, tmp / f"cheap-np-{r}", "cluster.pack=false"))],
        [("gridsearch", lambda r: run_gridsearch(ws))],
    ]
    walls, results = interleave(ways, reps)
    results.pop("records")
    configs_n = math.prod(len(values) for values in GRIDS["cheap"].values())
    print(f"\ncheap grid: {configs_n} RandomForest configs (4 trees), 5-fold CV, 3k x 10 rows")
    for name in ("sous", "sous_unpacked", "gridsearch"):
        print(f"  {name:<26}{median(walls[name]):8.2f} s")
    print(f"  sous / sous unpacked = {paired(walls, 'sous', 'sous_unpacked')}")
    print(f"  sous / GridSearchCV  = {paired(walls, 'sous', 'gridsearch')}")
    print(f"  unpacked / GridSearchCV = {paired(walls, 'sous_unpacked', 'gridsearch')}")
    return agree(results)


def fold_overhead(ws: dict[str, str], reps: int = 5) -> dict[str, float]:
    """One fold task of the no-growth grid in this process, in CPU time (robust to other
    processes on the cores): Sous's ``fit_score`` (Pipeline with its preprocessing, the fit,
    one ``predict_proba``, the full metric set) against what GridSearchCV does per candidate
    and fold (the bare forest's fit and its accuracy scorer), on the same rows and params."""
    import pandas as pd
    from sklearn.metrics import get_scorer

    from engine.specs import ImbalanceSpec, ModelSpec, PreprocessSpec
    from engine.steps.train import fit_score

    data = np.load(ws["npz"])
    X, y = data["X"], data["y"]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["y"] = y
    train, valid = next(splitter().split(X, y))
    params = {"n_estimators": 16, "max_depth": 10, "min_samples_leaf": 4}
    model = ModelSpec("rf", "sklearn", "sklearn.ensemble.RandomForestClassifier", {"n_jobs": 1})
    kw: dict[str, Any] = {
        "target": "y", "task": "classification", "model": model, "params": params,
        "preprocess": PreprocessSpec(numeric={"impute": "none", "scale": "none"}),
        "imbalance": ImbalanceSpec(), "features": (), "seed": SEED,
    }  # fmt: skip
    accuracy = get_scorer("accuracy")

    def sous() -> None:
        fit_score(frame, train, valid, **kw)

    def peer() -> None:
        est = estimator(params).fit(X[train], y[train])
        accuracy(est, X[valid], y[valid])

    cpu: dict[str, list[float]] = {"sous": [], "peer": []}
    for _ in range(reps + 1):  # the first round warms up and is dropped
        for name, fn in (("sous", sous), ("peer", peer)):
            t0 = time.process_time()
            fn()
            cpu[name].append((time.process_time() - t0) * 1000)
    s, p = median(cpu["sous"][1:]), median(cpu["peer"][1:])
    return {
        "sous fit_score": s,
        "GridSearchCV's fit + accuracy scorer": p,
        "difference": s - p,
    }


def where_the_time_went(record: dict[str, Any], wall: float) -> dict[str, float]:
    """A Sous run's command wall time split by its step rows (where and when each ran)."""
    from datetime import datetime

    start, end = (datetime.fromisoformat(record[k]) for k in ("started_at", "finished_at"))
    run_s = (end - start).total_seconds()
    ran = [s for s in record["steps"] if not s["cached"] and s.get("started_s") is not None]
    nodes = [s for s in ran if s["worker"] != "driver"]
    fits = [s for s in nodes if s["name"].startswith("fit:")]
    first = min(s["started_s"] for s in nodes)
    last_fit_end = max(s["started_s"] + s["wall_s"] for s in fits)
    final = [s for s in nodes if s["name"] in ("refit", "test")]
    busy: dict[str, float] = {}
    fits_end: dict[str, float] = {}  # each worker's last fit's end
    for s in nodes:
        busy[s["worker"]] = busy.get(s["worker"], 0.0) + s["wall_s"]
    for s in fits:
        end = s["started_s"] + s["wall_s"]
        fits_end[s["worker"]] = max(fits_end.get(s["worker"], 0.0), end)
    span = max(s["started_s"] + s["wall_s"] for s in nodes) - first
    return {
        "command (python, imports, exit)": wall - run_s,
        "run: until the first node starts": first,
        "nodes: first start to last end": span,
        "  fits (sum of wall / 2 workers)": sum(s["wall_s"] for s in fits) / 2,
        "  fits: first start to last end": last_fit_end - first,
        "  refit + test": sum(s["wall_s"] for s in final),
        "  workers idle within the span": sum(span - b for b in busy.values()),
        "  of which at the fits' end (uneven tail)": sum(
            last_fit_end - end for end in fits_end.values()
        ),
        "run: after the last node (release, record)": run_s - first - span,
    }


def paired(walls: dict[str, list[float]], a: str, b: str) -> str:
    """``a`` over ``b``, repetition by repetition (each ran the two back to back, so a
    busier or slower spell of the machine weighs on both), then their median: on two
    shared cores one repetition's ratio can be 10% off the next, which the list shows."""
    ratios = [x / y for x, y in zip(walls[a], walls[b], strict=True)]
    each = ", ".join(f"{r:.2f}x" for r in ratios)
    return f"{median(ratios):.2f}x" + (f" (per repetition: {each})" if len(ratios) > 1 else "")


def interleave(groups: list[list[Way]], reps: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Each repetition runs every way once, its groups in the listed order, then reversed in
    the next repetition: on this VM the first process after a pause runs slower (its pages
    are brought back in), and a fixed order would always hand that to the same way. The
    ways of a group keep their order (a rerun follows its cold run). Walls by way, and each
    way's last result (Sous records collected under ``records``)."""
    walls: dict[str, list[float]] = {name: [] for group in groups for name, _ in group}
    results: dict[str, Any] = {"records": []}
    for rep in range(reps):
        ordered = groups if rep % 2 == 0 else groups[::-1]
        for name, way in (way for group in ordered for way in group):
            wall, result = way(rep)
            walls[name].append(wall)
            if "record" in result:
                results["records"].append(result.pop("record"))
            results[name] = result
            print(f"rep {rep + 1}/{reps}  {name:<12} {wall:7.2f} s", flush=True)
    return walls, results


def growing(tmp: Path, reps: int) -> bool:
    """The usual grid: every way side by side, plus the ideal, the rerun and node overhead."""
    ws = make_workspace(tmp, "growing")
    ways: list[list[Way]] = [
        [  # the rerun reads the cold run's home: it runs right after it
            ("sous", lambda r: run_sous(ws, tmp / f"home-{r}")),
            ("sous_rerun", lambda r: run_sous(ws, tmp / f"home-{r}")),
        ],
        [("sous_fresh", lambda r: run_sous(ws, tmp / f"fresh-{r}", "+sweep.grow=false"))],
        [("hydra_basic", lambda r: run_hydra(ws, tmp))],
        [("gridsearch", lambda r: run_gridsearch(ws))],
        [("sous_m_basic", lambda r: run_sous_multirun(ws, tmp / f"mr-basic-{r}", "basic"))],
        [("sous_m_dask", lambda r: run_sous_multirun(ws, tmp / f"mr-dask-{r}", "dask"))],
    ]
    walls, results = interleave(ways, reps)
    results.pop("records")
    ideal_s, ideal_grown_s = ideal(ws)
    overhead = node_overhead()
    report(walls, results, (ideal_s, ideal_grown_s), overhead)
    return agree(results)


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
    print(f"  hydra basic / sous   = {paired(walls, 'hydra_basic', 'sous')}  (target >= 2.0x)")
    ratio = paired(walls, "sous", "gridsearch")
    print(f"  sous / GridSearchCV  = {ratio}  (target <= 0.95x on the growing grid)")
    print(f"  rerun / cold         = {median(walls['sous_rerun']) / sous:.1%}  (target <= 5%)")
    print_overhead(overhead)
    print("\nbest configuration found:")


if __name__ == "__main__":
    raise SystemExit(main())
