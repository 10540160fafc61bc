"""Ingest + validate benchmark: out-of-core (dask.dataframe partitions) vs pandas + pandera.

    python benchmarks/bench_ingest.py                   # 256 MB limit, dataset >= 3x that
    python benchmarks/bench_ingest.py --limit-mb 64     # a quicker run

Generates a CSV whose in-memory (pandas) size is at least FACTOR x the memory limit, with
PII and bad rows, then measures, each in a fresh subprocess (peak RSS = VmHWM of that
process; the libraries' own RSS is measured before reading and reported apart):
  ooc     engine.data.ooc.ingest_partitioned on the WHOLE dataset
  pandas  read_csv + mask + validate_frame + to_parquet on a slice that fits in the limit
and prints rows/s and peak memory side by side. The libraries (pandas, pyarrow, pandera, dask)
take a few hundred MB in either mode; the limit is compared with the memory above that.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = {
    "on_failure": "quarantine",
    "columns": {
        "age": {"dtype": "int64", "checks": {"ge": 0, "le": 120}},
        "plan": {"checks": {"isin": ["basic", "pro", "enterprise"]}},
        "amount": {"dtype": "float64", "checks": {"ge": 0}},
        "email": {"checks": {"str_length": 64}},
    },
}
PII = {"email": "hash", "name": "drop"}


def _schema():  # type: ignore[no-untyped-def]
    from engine.specs import ColumnSpec, SchemaSpec, frozen_map

    cols = tuple(
        ColumnSpec(name, dtype=c.get("dtype"), checks=frozen_map(c.get("checks")))
        for name, c in SCHEMA["columns"].items()  # type: ignore[attr-defined]
    )
    return SchemaSpec(on_failure="quarantine", columns=cols)


def _chunk(start: int, n: int, seed: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed + start)
    ids = np.arange(start, start + n)
    age = rng.integers(18, 90, n)
    age[rng.random(n) < 0.001] = -1  # bad rows in every chunk
    y = rng.integers(0, 2, n).astype("float64")
    y[rng.random(n) < 0.0005] = np.nan
    return pd.DataFrame(
        {
            "id": ids,
            "email": [f"user{i}@example.com" for i in ids],
            "name": [f"Person {i}" for i in ids],
            "age": age,
            "plan": rng.choice(
                ["basic", "pro", "enterprise", "gold"], n, p=[0.5, 0.3, 0.1999, 0.0001]
            ),
            "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
            "y": y,
        }
    )


def generate(path: Path, limit_mb: int, factor: float, seed: int = 7) -> tuple[int, float]:
    """Write the CSV in chunks; returns (rows, estimated in-memory MB)."""
    sample = _chunk(0, 100_000, seed)
    per_row = sample.memory_usage(deep=True).sum() / len(sample)
    rows = math.ceil(factor * limit_mb * 2**20 / per_row * 1.05)
    if not path.exists():
        step = 500_000
        for start in range(0, rows, step):
            chunk = _chunk(start, min(step, rows - start), seed)
            chunk.to_csv(path, mode="a", header=start == 0, index=False)
    return rows, rows * per_row / 2**20


def child_ooc(data: str, out: str, blocksize_mb: int) -> dict[str, float]:
    from engine.data.ooc import ingest_partitioned
    from engine.specs import SourceSpec, frozen_map

    t0 = time.perf_counter()
    res = ingest_partitioned(
        SourceSpec("bench", "csv", frozen_map({"path": data})), _schema(), target="y", out_dir=out,
        pii=PII, blocksize=blocksize_mb * 2**20,
    )  # fmt: skip
    secs = time.perf_counter() - t0
    return {
        "rows": res.rows_in,
        "seconds": secs,
        "quarantined": res.rows_quarantined,
        "partitions": res.partitions,
    }


def child_pandas(data: str, out: str, rows: int) -> dict[str, float]:
    import pandas as pd

    from engine.data.pii import mask
    from engine.validation import validate_frame

    t0 = time.perf_counter()
    frame = pd.read_csv(data, nrows=rows)
    frame = mask(frame, PII, salt_env="SOUS_PII_SALT")
    res = validate_frame(frame, _schema(), target="y")
    os.makedirs(out, exist_ok=True)
    res.frame.to_parquet(os.path.join(out, "good.parquet"))
    res.quarantine.to_parquet(os.path.join(out, "quarantine.parquet"))
    secs = time.perf_counter() - t0
    return {
        "rows": len(frame),
        "seconds": secs,
        "quarantined": len(res.quarantine),
        "partitions": 1,
    }


def _peak_mb() -> float:
    """This process's RSS high-water mark. /proc's VmHWM starts fresh at exec; ru_maxrss
    would carry over the parent's peak (the generator's) on Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _import_everything() -> None:
    """Libraries cost the same in both modes; import them before the baseline is taken."""
    import dask.dataframe
    import pandas
    import pandera.pandas
    import pyarrow.parquet

    import engine.data.ooc
    import engine.validation

    del dask, pandas, pandera, pyarrow, engine


def measure(args: list[str]) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SOUS_PII_SALT": os.environ.get("SOUS_PII_SALT", "bench"),
    }
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--limit-mb", type=int, default=256, help="the worker memory limit to beat")
    p.add_argument("--factor", type=float, default=3.0, help="dataset size / limit (>= 3)")
    p.add_argument(
        "--blocksize-mb", type=int, default=0, help="CSV MB per partition (default: limit / 24)"
    )
    p.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    p.add_argument("--child", choices=["ooc", "pandas"], help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        os.environ["SOUS_HOME"] = tempfile.mkdtemp(prefix="sous-bench-")
        _import_everything()
        baseline = _peak_mb()
        res = (
            child_ooc(a.data, a.out, a.blocksize_mb)
            if a.child == "ooc"
            else child_pandas(a.data, a.out, a.rows)
        )
        res["peak_mb"] = _peak_mb()
        res["baseline_mb"] = baseline
        print(json.dumps(res))
        return
    work = a.dir or Path(tempfile.mkdtemp(prefix="sous-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"bench-{a.limit_mb}mb-x{a.factor}.csv"
    t0 = time.perf_counter()
    rows, mem_mb = generate(data, a.limit_mb, a.factor)
    print(f"dataset: {rows:,} rows, csv {data.stat().st_size / 2**20:,.0f} MB, in memory ~{mem_mb:,.0f} MB "
          f"= {mem_mb / a.limit_mb:.1f}x the {a.limit_mb} MB limit (generated in {time.perf_counter() - t0:.0f}s)")  # fmt: skip
    # Reading, masking and validating need ~5-6x the frame's size (copies, parse buffers,
    # allocator slack): the slice is a frame of limit/6, and partitions are sized alike.
    fits = int(rows * (a.limit_mb / mem_mb) / 6)
    a.blocksize_mb = a.blocksize_mb or max(1, a.limit_mb // 24)
    results = {
        "ooc (dask partitions), whole dataset": measure(
            [
                "--child",
                "ooc",
                "--data",
                str(data),
                "--out",
                str(work / "ooc"),
                "--blocksize-mb",
                str(a.blocksize_mb),
            ]
        ),
        "pandas + pandera, slice that fits": measure(
            [
                "--child",
                "pandas",
                "--data",
                str(data),
                "--out",
                str(work / "pd"),
                "--rows",
                str(fits),
            ]
        ),
    }
    head = f"\n{'mode':<38}{'rows':>11}{'parts':>6}{'secs':>7}{'rows/s':>10}"
    print(head + f"{'peak MB':>9}{'libs MB':>9}{'data MB':>9}{'<= limit':>9}")
    for name, r in results.items():
        working = r["peak_mb"] - r["baseline_mb"]
        ok = "yes" if working <= a.limit_mb else "NO"
        print(f"{name:<38}{int(r['rows']):>11,}{int(r['partitions']):>6}{r['seconds']:>7.1f}"
              f"{r['rows'] / r['seconds']:>10,.0f}{r['peak_mb']:>9.0f}{r['baseline_mb']:>9.0f}"
              f"{working:>9.0f}{ok:>9}")  # fmt: skip
    print(
        f"\n(data kept in {work}. peak = max RSS of the measuring process; libs = its RSS after"
        " importing the libraries, before reading data; data = peak - libs, compared with the limit)"
    )


if __name__ == "__main__":
    main()
