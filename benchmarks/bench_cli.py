"""`sous validate` and `sous plan` as a user runs them: the whole command, warm.

    python benchmarks/bench_cli.py [--recipe iris] [--repeat 7] [--profile]

Each command is started as a fresh interpreter (``python -m engine ...``, what the ``sous``
script runs) in a fresh ``$SOUS_HOME``, run once to warm the caches a user's second call
finds (the validation memo, the code fingerprints, the OS page cache), then ``--repeat``
times; the median wall time is compared with the target (issue 15: under 0.8 s on iris).
``python -c pass`` is timed the same way, as the floor no command can go under.

``--profile`` also runs each command once under ``python -X importtime`` and prints the
modules that took the largest shares of its imports: on a loaded machine the seconds
stretch, the shares barely move.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.8
COMMANDS = {"validate": ["validate"], "plan": ["plan"]}


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one command, from spawning the interpreter to its exit."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(argv: list[str], env: dict[str, str], repeat: int) -> list[float]:
    timed(argv, env)  # warm: what the user's second call finds
    return [timed(argv, env) for _ in range(repeat)]


def import_shares(argv: list[str], env: dict[str, str], top: int = 8) -> list[tuple[str, float]]:
    """The top-level imports (and the share of all import time) of one run of ``argv``."""
    out = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=ROOT, capture_output=True, text=True
    )
    return shares(out.stderr, top)


def shares(importtime: str, top: int) -> list[tuple[str, float]]:
    """``-X importtime`` output -> (module, share of the total) for the top-level imports."""
    rows = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith(" ") or name.startswith("  "):
            continue  # only modules imported directly by the program (depth 0)
        rows.append((name.strip(), int(cumulative)))
    total = sum(c for _, c in rows) or 1
    return [(n, c / total) for n, c in sorted(rows, key=lambda r: -r[1])[:top]]


def report(results: dict[str, list[float]], floor: list[float]) -> bool:
    """Print each command's median against the target; True when every one meets it."""
    ok = True
    base = statistics.median(floor)
    print(f"  python -c pass           median {base:6.3f} s  (the interpreter alone)")
    for name, walls in results.items():
        med = statistics.median(walls)
        met = med < TARGET_S
        ok &= met
        spread = f"min {min(walls):.3f} max {max(walls):.3f}"
        print(
            f"  sous {name:<18}  median {med:6.3f} s  ({spread})  target < {TARGET_S} s  "
            f"{'met' if met else 'NOT MET'}"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="iris")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sous-bench-cli-") as tmp:
        env = {**os.environ, "SOUS_HOME": str(Path(tmp) / "home")}
        floor = measure([sys.executable, "-c", "pass"], env, args.repeat)
        results = {}
        for name, words in COMMANDS.items():
            cmd = [sys.executable, "-m", "engine", *words, args.recipe]
            results[f"{name} {args.recipe}"] = measure(cmd, env, args.repeat)
        print(f"sous validate / plan, warm, median of {args.repeat} fresh interpreters")
        ok = report(results, floor)
        if args.profile:
            for name, words in COMMANDS.items():
                cmd = [sys.executable, "-m", "engine", *words, args.recipe]
                print(f"\nimports of sous {name} {args.recipe} (share of all import time):")
                for module, share in import_shares(cmd, env):
                    print(f"  {share:6.1%}  {module}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
