"""Drift monitoring benchmark: `sous monitor` vs Evidently's data drift report, same data.

    python benchmarks/bench_monitor.py                          # 1M and 10M logged rows
    python benchmarks/bench_monitor.py --rows 200000 --evidently-python /tmp/ev/bin/python

Data: a reference of 100k training rows and a request log of N rows, 20 features (15
numeric, 5 categorical with 8 values), two of them drifted; the log is written in the format
the server writes (parquet files of 1M rows with `_ts`, `_prediction`, `_version`...).

  sous        `python -m engine monitor bench --json` as a user runs it (a model packaged with
              its reference first, untimed): wall time of the whole command and its peak RSS
  evidently   `Report([DataDriftPreset()]).run(current, reference)` on the same rows read
              into pandas, in its own interpreter (--evidently-python; Evidently's pins can
              conflict with Sous's), at the sizes given by --evidently-rows (default 1M)

Targets: sous >= 5x Evidently's speed at 1M rows; sous's peak memory flat from 1M to 10M
(within 1.25x). Prints the figures; exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = "bench"
NUMERIC = [f"num_{i:02d}" for i in range(15)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
FEATURES = [*NUMERIC, *CATEGORICAL]
DRIFTED = ("num_03", "cat_1")
CHUNK = 1_000_000
REFERENCE_ROWS = 100_000

EVIDENTLY = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1])
cur = pd.concat([pd.read_parquet(p, columns=list(ref.columns)) for p in sys.argv[3:]][: int(sys.argv[2])])
snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
out = snapshot.dict()
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_mb": peak, "rows": len(cur)}))
"""


def frame(n: int, seed: int, drift: bool) -> Any:
    """``n`` rows of the 20 features (``drift``: two of them moved)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        data[name] = rng.normal(i, 1 + i / 10, n)
    cats = np.array([f"v{j}" for j in range(8)])
    for name in CATEGORICAL:
        data[name] = cats[rng.integers(0, 8, n)]
    out = pd.DataFrame(data)
    if drift:
        out["num_03"] = out["num_03"] + 2 * (1 + 3 / 10)
        out.loc[out.index[: n // 3], "cat_1"] = "v0"
    return out


def write_log(directory: Path, rows: int, version: str) -> list[Path]:
    """The request log of ``rows`` rows as the server writes it, 1M rows per file."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        table = pa.Table.from_pandas(frame(n, seed=100 + k, drift=True), preserve_index=False)
        now = time.time()
        meta = {
            "_ts": pa.array(np.full(n, now)),
            "_prediction": pa.array(np.where(np.arange(n) % 3 == 0, '"yes"', '"no"')),
            "_probabilities": pa.nulls(n, pa.string()),
            "_request_id": pa.array([f"{k}-{i}" for i in range(n)]),
            "_endpoint": pa.array(["predict_batch"] * n),
            "_role": pa.array(["served"] * n),
            "_variant": pa.array(["champion"] * n),
            "_version": pa.array([version] * n),
            "_latency_ms": pa.array(np.full(n, 3.0)),
        }
        for name, col in meta.items():
            table = table.append_column(name, col)
        path = directory / f"requests-{k:04d}.parquet"
        pq.write_table(table, path, row_group_size=128 * 1024)  # the server flushes small files
        paths.append(path)
    return paths


def package_model(reference_frame: Any) -> str:
    """A small model packaged with its reference (untimed set-up)."""
    import numpy as np
    from sklearn.dummy import DummyClassifier

    from engine.drift.reference import build_reference
    from engine.serving import FeatureField, package
    from engine.specs import BentoSpec, DeploySpec

    y = np.where(np.arange(len(reference_frame)) % 3 == 0, "yes", "no")
    est = DummyClassifier(strategy="prior").fit(reference_frame[FEATURES], y)
    ref = build_reference(
        reference_frame, FEATURES, y[:20_000], {"accuracy": 0.67}, None,
        task="classification", classes=["no", "yes"],
    )  # fmt: skip
    fields = [FeatureField(c, "float") for c in NUMERIC] + [
        FeatureField(c, "str") for c in CATEGORICAL
    ]
    packaged = package(
        name=MODEL, estimator=est, task="classification", features=fields,
        classes=["no", "yes"], metrics={"accuracy": 0.67}, labels={"recipe": MODEL},
        deploy=DeploySpec(bento=BentoSpec(name=MODEL), log_requests=True), reference=ref,
    )  # fmt: skip
    return str(packaged.version)


# Started by a small launcher, not forked from this (large) process: Linux counts the RSS a
# child inherits at fork in its peak, which would add this process's data to every figure.
LAUNCHER = r"""
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "wb")).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{code} {peak}", file=sys.stderr)
"""


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB of the command, its stdout)."""
    with tempfile.NamedTemporaryFile(suffix=".out") as out:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", LAUNCHER, out.name, *cmd], env=env, capture_output=True
        )
        wall = time.perf_counter() - t0
        code, peak_kb = proc.stderr.decode().strip().splitlines()[-1].split()
        if int(code) not in (0, 3):
            raise RuntimeError(f"{' '.join(cmd[:5])} failed ({code}): {proc.stderr[-2000:]!r}")
        return wall, int(peak_kb) / 1024, Path(out.name).read_text()


def report(sous: dict[int, tuple[float, float]], evidently: dict[int, tuple[float, float]]) -> bool:
    """Print the figures side by side; True when every target is met."""
    print(f"{'rows':>12}  {'sous s':>8}  {'sous MB':>8}  {'evidently s':>12}  {'evidently MB':>12}")
    for rows in sorted(set(sous) | set(evidently)):
        s = sous.get(rows, (float("nan"), float("nan")))
        e = evidently.get(rows, (float("nan"), float("nan")))
        print(f"{rows:>12,}  {s[0]:>8.2f}  {s[1]:>8.0f}  {e[0]:>12.2f}  {e[1]:>12.0f}")
    ok = True
    one_m = 1_000_000
    if one_m in sous and one_m in evidently:
        speedup = evidently[one_m][0] / sous[one_m][0]
        met = speedup >= 5
        ok &= met
        print(f"speed at 1M rows: evidently / sous = {speedup:.1f}x (target >= 5x: "
              f"{'met' if met else 'MISSED'})")  # fmt: skip
    sizes = sorted(sous)
    if len(sizes) >= 2:
        growth = sous[sizes[-1]][1] / sous[sizes[0]][1]
        met = growth <= 1.25
        ok &= met
        print(f"sous peak memory {sizes[-1]:,} / {sizes[0]:,} rows = {growth:.2f}x (target "
              f"flat, <= 1.25x: {'met' if met else 'MISSED'})")  # fmt: skip
    return ok


def evidently_interpreter() -> str:
    """A Python with Evidently, in its own venv (its pins conflict with Sous's pandas)."""
    venv = Path(tempfile.gettempdir()) / "sous-bench-evidently"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evidently"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    print(f"installing Evidently into {venv} (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "evidently"], check=True)
    return str(python)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--evidently-rows", type=int, nargs="*", default=[1_000_000])
    p.add_argument("--evidently-python", default=os.environ.get("EVIDENTLY_PYTHON"),
                   help="an interpreter with evidently installed; 'auto' makes one (a venv "
                   "beside the system temp dir, kept for the next run); default: skip")  # fmt: skip
    p.add_argument("--workdir", help="keep the data here (default: a temporary directory)")
    args = p.parse_args(argv)
    if args.evidently_python == "auto":
        args.evidently_python = evidently_interpreter()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sous-bench-monitor-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SOUS_HOME": str(work / "home"), "BENTOML_DO_NOT_TRACK": "True"}
    os.environ.update(env)
    reference_frame = frame(REFERENCE_ROWS, seed=1, drift=False)
    ref_path = work / "reference.parquet"
    reference_frame.to_parquet(ref_path, index=False)
    version = package_model(reference_frame)
    sous: dict[int, tuple[float, float]] = {}
    evidently: dict[int, tuple[float, float]] = {}
    for rows in sorted(set(args.rows) | set(args.evidently_rows)):
        log = work / "home" / "serving" / MODEL / "requests"
        for old in log.glob("*.parquet"):
            old.unlink()
        files = write_log(log, rows, version)
        if rows in args.rows:
            cmd = [sys.executable, "-m", "engine", "monitor", MODEL, "--json", "--no-alerts",
                   "--since", "0"]  # fmt: skip
            wall, peak, out = run_child(cmd, env)
            result = json.loads(out)
            assert result["n"] == rows and set(result["drifted"]) == set(DRIFTED), result
            sous[rows] = (wall, peak)
            print(f"sous      {rows:>11,} rows: {wall:7.2f} s, peak {peak:6.0f} MB, "
                  f"drifted {result['drifted']}", flush=True)  # fmt: skip
        if rows in args.evidently_rows and args.evidently_python:
            n_files = str(len(files))
            cmd = [args.evidently_python, "-c", EVIDENTLY, str(ref_path), n_files,
                   *map(str, files)]  # fmt: skip
            wall, peak, out = run_child(cmd, env)
            evidently[rows] = (wall, peak)
            print(f"evidently {rows:>11,} rows: {wall:7.2f} s, peak {peak:6.0f} MB", flush=True)
    return 0 if report(sous, evidently) else 1


if __name__ == "__main__":
    raise SystemExit(main())
