"""`make bench`: every benchmark, one after another, each printing its figures side by side.

Pass names to run only some: `python benchmarks/run_all.py sweep serving`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "sweep": ["bench_sweep.py", "--reps", "3"],
    "halving": ["bench_halving.py"],
    "ingest": ["bench_ingest.py"],
    "serving": ["bench_serving.py"],
    "restart": ["bench_restart.py"],
    "monitor": ["bench_monitor.py", "--evidently-python", "auto"],
    "stream": ["bench_stream.py"],
    "ui": ["bench_ui.py"],
    "cli": ["bench_cli.py", "--profile"],
}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHES)}", file=sys.stderr)
        return 2
    failed = []
    for name in names or list(BENCHES):
        script, *args = BENCHES[name]
        print(f"\n===== {name}: python benchmarks/{script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that missed a target or failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
