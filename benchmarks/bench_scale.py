"""Training past one worker's memory: Sous's dask_xgboost against in-memory XGBoost fits.

    python benchmarks/bench_scale.py                    # 1 GB workers, a table 5x that
    python benchmarks/bench_scale.py --worker-mb 512    # smaller
    python benchmarks/bench_scale.py --quick            # a smoke run (seconds of data)

Writes a synthetic classification table as train/valid/test parquet partitions (the layout
``data.out_of_core`` produces) whose in-memory size (pandas, float64) is FACTOR x one worker's
memory limit, then trains, side by side:

  distributed     Sous's kind: dask_xgboost on every train row, through the step a run uses
                  (engine.steps.scale.fit_partitioned) inside a task of a LocalCluster of
                  WORKERS workers with that memory limit; early stopping on the valid split.
                  external_memory is left at auto: at full size each worker streams its
                  files into XGBoost's external memory, at --quick size it trains in memory
  largest sample  plain xgboost.XGBClassifier in one process on the largest sample that
                  fits one worker's limit (rows estimated from the bytes a row costs; its
                  peak is printed against the limit), early stopping on one valid row
                  for every seven train rows, as the split has them
  bounded sample  the same on data.out_of_core.sample_rows rows (the default 1,000,000,
                  or fewer with --sample-rows): what a run trained on before dask_xgboost

and prints the rows trained on, test accuracy (all test rows, read partition by partition),
wall time, and peak memory: per worker for the distributed fit (VmHWM of each worker
process), of the process for the in-memory ones. Each in-memory fit runs in its own
subprocess, so its peak is its own.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# XGBoost keeps per-row state in memory even from external memory (labels, gradients,
# predictions, row indices: about 50 bytes a row measured, whatever the width), so a wide
# row is where streaming pays; at 20 float64 features a 1 GB worker's share of a 5x table
# did not fit beside the libraries (see docs/scale.md)
FEATURES = 40
ROW_BYTES = (FEATURES + 1) * 8  # pandas float64 columns + the label
PARTITION_ROWS = 50_000
PARAMS = {"max_depth": 6, "learning_rate": 0.3, "n_estimators": 60, "early_stopping_rounds": 10}


def _chunk(start: int, n: int, seed: int):  # type: ignore[no-untyped-def]
    """``n`` rows of a fixed random linear-plus-interaction problem (the same for any chunk)."""
    import numpy as np
    import pandas as pd

    w = np.random.default_rng(seed).normal(size=FEATURES)
    rng = np.random.default_rng([seed, start])
    x = rng.normal(size=(n, FEATURES))
    logit = x @ w / math.sqrt(FEATURES) + 0.8 * x[:, 0] * x[:, 1] - 0.5 * np.abs(x[:, 2])
    y = (logit + rng.logistic(size=n) * 0.5 > 0).astype("int64")
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(FEATURES)])
    frame["label"] = y
    return frame


def write_dataset(root: Path, rows: int, seed: int = 0) -> dict[str, int]:
    """train/valid/test parquet partitions (70/10/20 by chunk position), like ooc_split's."""
    counts = {"train": 0, "valid": 0, "test": 0}
    for part in counts:
        (root / part).mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, rows, PARTITION_ROWS)):
        frame = _chunk(start, min(PARTITION_ROWS, rows - start), seed)
        cut = [int(len(frame) * 0.7), int(len(frame) * 0.8)]
        pieces = (frame[: cut[0]], frame[cut[0] : cut[1]], frame[cut[1] :])
        for part, piece in zip(counts, pieces, strict=True):
            piece.to_parquet(root / part / f"part-{i:05d}.parquet", index=False)
            counts[part] += len(piece)
    return counts


def _test_accuracy(model, root: Path) -> float:  # type: ignore[no-untyped-def]
    """Accuracy over every test row, one partition in memory at a time."""
    import pandas as pd

    right = total = 0
    for path in sorted((root / "test").glob("*.parquet")):
        part = pd.read_parquet(path)
        predicted = model.predict(part[[f"x{i}" for i in range(FEATURES)]])
        right += int((predicted == part["label"].to_numpy()).sum())
        total += len(part)
    return right / total


def _vmhwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _sous_fit(root: str) -> object:
    """What a run's fit node does for kind: dask_xgboost on an out-of-core dataset."""
    import numpy as np
    import pandas as pd

    from engine.specs import ImbalanceSpec, ModelSpec, PreprocessSpec, frozen_map
    from engine.steps.scale import fit_partitioned

    sample = pd.read_parquet(sorted((Path(root) / "train").glob("*.parquet"))[0])
    model = ModelSpec("xgb", "dask_xgboost", None, frozen_map(PARAMS))
    cols = [f"x{i}" for i in range(FEATURES)]
    return fit_partitioned(
        Path(root), sample, np.arange(len(sample)), cols, target="label",
        task="classification", model=model, params={}, seed=0,
        preprocess=PreprocessSpec(numeric=frozen_map({"impute": "median", "scale": "none"})),
        imbalance=ImbalanceSpec(),
    )  # fmt: skip


def distributed(root: Path, worker_mb: int, workers: int) -> dict[str, object]:
    from distributed import Client

    from engine.execution.cluster import local_cluster
    from engine.specs import ClusterSpec

    spec = ClusterSpec(workers=workers, memory_limit=f"{worker_mb}MB")
    with local_cluster(spec, warm=False, dashboard=False) as cluster, Client(cluster) as client:
        client.run(_reset_peak)
        start = time.perf_counter()
        model = client.submit(_sous_fit, str(root), pure=False).result()
        wall = time.perf_counter() - start
        peaks = sorted(client.run(_vmhwm_mb).values())
    rows = sum(_rows(p) for p in (root / "train").glob("*.parquet"))
    return {
        "mode": "distributed", "rows": rows, "accuracy": _test_accuracy(model, root),
        "wall_s": wall, "peak_mb": peaks, "trained_on": model[-1].trained_on_,
        "rows_trained": model[-1].rows_trained_, "streamed": model[-1].streamed_,
    }  # fmt: skip


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def in_memory(root: Path, rows: int, mode: str) -> dict[str, object]:
    """A plain XGBClassifier on the first ``rows`` train rows, in a fresh subprocess."""
    out = subprocess.run(
        [sys.executable, __file__, "--fit-in-memory", str(root), str(rows), mode],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _head(paths: list[Path], rows: int):  # type: ignore[no-untyped-def]
    """The first ``rows`` rows of ``paths``, read file by file."""
    import pandas as pd

    frames, have = [], 0
    for path in paths:
        if have >= rows:
            break
        part = pd.read_parquet(path).head(rows - have)
        frames.append(part)
        have += len(part)
    return pd.concat(frames, ignore_index=True)


def _fit_in_memory(root: Path, rows: int, mode: str) -> dict[str, object]:
    import xgboost as xgb

    train = _head(sorted((root / "train").glob("*.parquet")), rows)
    # early stopping on valid rows in the split's proportion (10 valid to 70 train): on one
    # machine a user would not hold every valid row of a table five times its memory
    valid = _head(sorted((root / "valid").glob("*.parquet")), math.ceil(len(train) / 7))
    cols = [f"x{i}" for i in range(FEATURES)]
    model = xgb.XGBClassifier(tree_method="hist", random_state=0, n_jobs=1, **PARAMS)
    _reset_peak()
    start = time.perf_counter()
    model.fit(train[cols], train["label"], eval_set=[(valid[cols], valid["label"])], verbose=False)
    wall = time.perf_counter() - start
    peak = _vmhwm_mb()
    return {"mode": mode, "rows": len(train), "accuracy": _test_accuracy(model, root),
            "wall_s": wall, "peak_mb": [peak]}  # fmt: skip


def report(results: list[dict[str, object]], worker_mb: int, table_mb: float) -> None:
    print(f"\ntable {table_mb:,.0f} MB in memory = {table_mb / worker_mb:.2f}x one worker's "
          f"{worker_mb} MB limit")  # fmt: skip
    print(f"{'mode':<16}{'rows':>12}{'accuracy':>10}{'wall s':>9}  peak MB (/ limit)")
    for r in results:
        peaks = ", ".join(f"{p:,.0f}" for p in r["peak_mb"])  # type: ignore[attr-defined]
        share = max(r["peak_mb"]) / worker_mb  # type: ignore[call-overload]
        print(f"{r['mode']:<16}{r['rows']:>12,}{r['accuracy']:>10.4f}{r['wall_s']:>9.1f}  "
              f"{peaks} ({share:.2f})")  # fmt: skip
    dist = next((r for r in results if r["mode"] == "distributed"), None)
    if dist is not None:
        over = max(dist["peak_mb"]) / worker_mb  # type: ignore[call-overload]
        route = "external memory" if dist["streamed"] else "Dask partitions in memory"
        print(f"distributed: {dist['rows_trained']:,} rows trained on, {route}, "
              f"{dist['trained_on']} shards/partitions")  # fmt: skip
        print(f"distributed peak per worker / limit = {over:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker-mb", type=int, default=1024)
    ap.add_argument("--factor", type=float, default=5.0, help="table size / one worker's limit")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample-rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="a tiny smoke run")
    ap.add_argument("--work-dir", type=Path, default=None)
    ap.add_argument("--fit-in-memory", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.fit_in_memory:
        root, rows, mode = args.fit_in_memory
        print(json.dumps(_fit_in_memory(Path(root), int(rows), mode)))
        return 0
    if args.quick:
        # workers need ~300 MB for the libraries alone: a small table, not a small limit
        args.worker_mb, args.factor, args.sample_rows = 1024, 0.01, 5_000
    rows = int(args.factor * args.worker_mb * 2**20 / ROW_BYTES)
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        root = Path(tmp) / "table"
        counts = write_dataset(root, rows)
        # what 90% of one worker's limit holds beside the libraries (~300 MB): measured
        # at full size, a fit's peak grows by about 1.4 float64 rows per train row (the
        # frame, XGBoost's quantised copy, the valid rows for early stopping at one for
        # every seven train rows)
        room = (0.9 * args.worker_mb - 300) * 2**20
        fits = min(counts["train"], int(room / (1.4 * ROW_BYTES)))
        results = [
            distributed(root, args.worker_mb, args.workers),
            in_memory(root, fits, "largest sample"),
            in_memory(root, min(args.sample_rows, counts["train"]), "bounded sample"),
        ]
    report(results, args.worker_mb, rows * ROW_BYTES / 2**20)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
