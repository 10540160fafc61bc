"""Halving benchmark: `sweep.strategy: halving` against the full grid on the sweep
benchmark's data and grid (bench_sweep.py: 20k x 30 rows, 24 RandomForest configurations,
5-fold stratified CV accuracy), with scikit-learn's HalvingGridSearchCV side by side.

Side by side, each a whole command as a user runs it (Python start-up included):
  (a) sous run, sweep.strategy=grid      -- every configuration on every row
  (b) sous run, sweep.strategy=halving   -- successive halving over the sample size (factor 3)
  (c) HalvingGridSearchCV(n_jobs=2)      -- the same rows, folds, grid, factor and seed
Targets: (b) picks the same configuration as (a), or one whose full-grid CV score is within
0.5% of the best; (b) takes a fraction of (a)'s time; (b) makes the same choices as (c)
(iterations, resources, candidates, best params).

Run: `python benchmarks/bench_halving.py [--grid growing|nogrowth] [--rows N] [--reps N]`
(`--rows` shrinks the data for a quick check; the figures in docs use the default).
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))

import bench_sweep  # noqa: E402
from grid_common import FOLDS, GRIDS  # noqa: E402

FACTOR = 3
TOLERANCE = 0.005  # the halving choice's full-grid score may trail the best by 0.5%


def run_sous(ws: dict[str, str], home: Path, *overrides: str) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "SOUS_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}
    cmd = [sys.executable, "-m", "engine", "run", ws["recipe"], *overrides, "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return wall, json.loads(out.stdout)


def halving_peer(ws: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """HalvingGridSearchCV in a fresh process (its imports included), as a user runs it."""
    code = f"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
sys.path.insert(0, {str(HERE / "peers")!r})
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV
from grid_common import GRIDS, SEED, estimator, splitter
data = np.load({ws["npz"]!r})
search = HalvingGridSearchCV(
    estimator({{}}), GRIDS[{ws["grid"]!r}], cv=splitter(), scoring="accuracy",
    factor={FACTOR}, random_state=SEED, n_jobs=2, refit=False,
).fit(data["X"], data["y"])
res = search.cv_results_
best = res["params"][search.best_index_]
last = [i for i, it in enumerate(res["iter"]) if it == max(res["iter"])]
print(json.dumps({{
    "best_params": best, "best_score": float(search.best_score_),
    "last": [[res["params"][i], float(res["mean_test_score"][i])] for i in last],
    "n_resources": [int(n) for n in search.n_resources_],
    "n_candidates": [int(n) for n in search.n_candidates_],
}}))
"""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, json.loads(out.stdout.strip().splitlines()[-1])


def _key(params: dict[str, Any], grid: str) -> str:
    return json.dumps({k: params.get(k) for k in GRIDS[grid]}, sort_keys=True)


def iterations(record: dict[str, Any], n_final: int) -> tuple[list[int], list[int]]:
    """Resources and candidates per iteration, from the eliminated trials and the leaderboard."""
    by_iter: dict[int, list[dict[str, Any]]] = {}
    for p in record.get("pruned") or []:
        by_iter.setdefault(p["iteration"], []).append(p)
    n = len(by_iter) + 1
    resources = [by_iter[i][0]["n_resources"] for i in range(n - 1)]
    candidates = [sum(len(by_iter[j]) for j in range(i, n - 1)) + n_final for i in range(n)]
    return resources, candidates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="growing")
    parser.add_argument("--rows", type=int, default=None, help="fewer rows, for a quick check")
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    if args.rows:
        bench_sweep.DATA[args.grid] = {**bench_sweep.DATA[args.grid], "n_samples": args.rows}
    walls: dict[str, list[float]] = {"grid": [], "halving": [], "peer": []}
    with tempfile.TemporaryDirectory(prefix="sous-bench-halving-") as d:
        tmp = Path(d)
        ws = bench_sweep.make_workspace(tmp, args.grid)
        for r in range(args.reps):  # interleaved, each in a fresh home (cold)
            wall, full = run_sous(ws, tmp / f"grid-{r}")
            walls["grid"].append(wall)
            wall, halved = run_sous(ws, tmp / f"halving-{r}", "sweep.strategy=halving")
            walls["halving"].append(wall)
            wall, peer = halving_peer(ws)
            walls["peer"].append(wall)
    grid, half, sk = (statistics.median(walls[k]) for k in ("grid", "halving", "peer"))
    scores = {
        _key(row["params"], args.grid): row["metrics"]["accuracy"] for row in full["leaderboard"]
    }
    best_full = full["winner"]["metrics"]["accuracy"]
    chosen = _key(halved["winner"]["params"], args.grid)
    chosen_full = scores[chosen]
    resources, candidates = iterations(halved, len(halved["leaderboard"]))
    # the last iteration: the same candidates with the same scores; the same best, or a tie
    # on the metric that Sous's select.tiebreak decided (scikit-learn takes the first listed)
    ours = {_key(r["params"], args.grid): r["metrics"]["accuracy"] for r in halved["leaderboard"]}
    theirs = {_key(p, args.grid): score for p, score in peer["last"]}
    same_last = ours.keys() == theirs.keys() and all(abs(ours[k] - theirs[k]) < 1e-12 for k in ours)
    peer_best = _key(peer["best_params"], args.grid)
    tied = chosen != peer_best and abs(theirs.get(chosen, -1.0) - theirs[peer_best]) < 1e-12
    same_as_peer = (
        (chosen == peer_best or tied)
        and same_last
        and resources == peer["n_resources"][: len(resources)]
        and candidates == peer["n_candidates"]
    )
    gap = (best_full - chosen_full) / best_full
    n_fits = sum(candidates)
    print(f"halving vs full grid: {args.grid} grid ({len(scores)} configurations), "
          f"{FOLDS}-fold CV, factor {FACTOR}, {args.reps} rep(s), median wall")  # fmt: skip
    print(f"  {'way':<34}{'wall s':>9}{'vs grid':>9}   best configuration")
    rows = [
        ("(a) sous, full grid", grid, full["winner"]["params"]),
        ("(b) sous, halving", half, halved["winner"]["params"]),
        ("(c) HalvingGridSearchCV(n_jobs=2)", sk, peer["best_params"]),
    ]
    for name, wall, params in rows:
        shown = {k: params.get(k) for k in GRIDS[args.grid]}
        print(f"  {name:<34}{wall:>9.2f}{wall / grid:>8.2f}x   {shown}")
    print(f"  halving iterations: resources {resources} + last, candidates {candidates} "
          f"({n_fits} trials against {len(scores)})")  # fmt: skip
    print(f"  HalvingGridSearchCV: resources {peer['n_resources']}, "
          f"candidates {peer['n_candidates']}")  # fmt: skip
    print(f"  full-grid CV accuracy: best {best_full:.4f}, halving's choice {chosen_full:.4f} "
          f"(gap {gap:.2%}; target <= {TOLERANCE:.1%})")  # fmt: skip
    print(f"  last iteration: {len(ours)} candidates, same scores as HalvingGridSearchCV: "
          f"{'yes' if same_last else 'NO'}"
          + ("; best tied on accuracy, select.tiebreak decided" if tied else ""))  # fmt: skip
    print(f"  halving / full grid = {half / grid:.2f}x   same choices as HalvingGridSearchCV: "
          f"{'yes' if same_as_peer else 'NO'}")  # fmt: skip
    ok = gap <= TOLERANCE and half < grid and same_as_peer
    if not ok:
        print("  MISSED a target")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
