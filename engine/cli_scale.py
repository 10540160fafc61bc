"""Commands for state past one machine: ``sous backup``, ``sous restore`` and
``sous runs cost``. Parsing and printing only; the work is in ``engine.store.backup`` and
``engine.costs``.

``COMMANDS`` lists them for ``engine.cli``; ``runs cost`` is an action added to the built-in
``sous runs`` (whose ``--since`` it shares).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.command import Command


def _backup_args(b: argparse.ArgumentParser) -> None:
    b.add_argument("dest", metavar="DEST", help="a new (or empty) directory")
    b.add_argument("--with-cache", action="store_true", help="also copy the artifact cache")
    b.add_argument("--json", action="store_true", help="print the manifest's summary as JSON")


def _restore_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("src", metavar="SRC", help="a directory made by `sous backup`")
    r.add_argument(
        "--force",
        action="store_true",
        help="restore over a non-empty home (it is moved aside to HOME.before-restore-TIME)",
    )
    r.add_argument("--json", action="store_true")


def _cost_args(runs: argparse.ArgumentParser) -> None:
    runs.add_argument(
        "--by",
        choices=["recipe", "model", "day", "week", "month"],
        default="recipe",
        help="cost: how to group (default: recipe)",
    )


def cmd_backup(args: argparse.Namespace) -> int:
    from engine.home import db_url, sous_home
    from engine.store.backup import PARTS, backup
    from engine.store.maintenance import human

    m = backup(sous_home(), db_url(), Path(args.dest), with_cache=args.with_cache)
    dest = Path(args.dest).expanduser().resolve()
    counts = {p: m.count(p) for p in PARTS}
    if args.json:
        _json({"dest": str(dest), "bytes": m.total_bytes, "files": len(m.files), **counts})
        return 0
    cache = f", {counts['cache']} cache entries" if m.with_cache else " (cache not included)"
    print(
        f"backed up {m.source_home} to {dest}: runs database, {counts['models']} models, "
        f"{counts['bentos']} Bentos{cache}; {len(m.files)} files, {human(m.total_bytes)}"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    import os

    from engine.store.backup import PARTS, restore

    # not engine.home.sous_home()/db_url(): they create the home this command fills
    home = Path(os.environ.get("SOUS_HOME", ".sous")).expanduser().resolve()
    url = os.environ.get("SOUS_DB_URL") or f"sqlite:///{home / 'runs.db'}"
    done = restore(Path(args.src), home, url, force=args.force)
    m = done.manifest
    if args.json:
        _json(
            {
                "home": str(done.home),
                "previous": str(done.previous) if done.previous else None,
                "created_at": m.created_at,
                "sous_version": m.sous_version,
                **{p: m.count(p) for p in PARTS},
            }
        )
        return 0
    print(
        f"restored {done.home} from the backup of {m.source_home} made {m.created_at} "
        f"(Sous {m.sous_version}): runs database, {m.count('models')} models, "
        f"{m.count('bentos')} Bentos, {m.count('cache')} cache entries"
    )
    if done.previous:
        print(f"the home it replaced is at {done.previous} (remove it when you no longer need it)")
    return 0


def cmd_runs_cost(args: argparse.Namespace) -> int:
    from engine.costs import aggregate, parse_since
    from engine.home import db_url
    from engine.store.runs import RunsDB

    since = parse_since(args.since) if args.since else None
    report = aggregate(RunsDB(db_url()).list(limit=1_000_000), by=args.by, since=since)
    if args.json:
        _json(report.as_json())
        return 0
    _print_report(report)
    return 0


def _print_report(report: Any) -> None:
    by_model = report.by == "model"
    head = [report.by, "runs", *(["won", "fit cpu"] if by_model else []), "cpu", "wall"]
    head += ["GB-h", "estimate"]
    rows = []
    for r in [*report.rows, *report.totals]:
        cells = [r.group, str(r.runs)]
        if by_model:
            cells += [str(r.won if r.won is not None else "-"), _secs(r.fit_cpu_s)]
        cells += [_secs(r.cpu_s), _secs(r.wall_s), f"{r.gb_hours:.4f}"]
        cells.append(f"{r.estimate:.6f} {r.currency}")
        rows.append(cells)
    if not report.rows:
        print("no run with a recorded cost" + (f" since {report.since}" if report.since else ""))
        return
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    if report.skipped:
        print(
            f"({report.skipped} runs without a recorded cost: still running, or stopped before the end)"
        )


def _secs(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s / 3600:.2f} h" if s >= 3600 else f"{s:.1f} s"


def _json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
    sys.stdout.flush()


COMMANDS = (
    Command(
        "backup",
        "back up the runs database, registry and model store (the cache optionally)",
        _backup_args,
        cmd_backup,
        description="Copy the state of $SOUS_HOME into a new directory DEST, consistently "
        "while runs go on; manifest.json (sizes and SHA-256 digests) is written last. "
        "See docs/scale.md.",
    ),
    Command(
        "restore",
        "restore $SOUS_HOME from a backup (digests checked first)",
        _restore_args,
        cmd_restore,
        description="Check every file of SRC against its manifest, then replace $SOUS_HOME "
        "by it in one rename. See docs/scale.md.",
    ),
    Command("runs", configure=_cost_args, run=cmd_runs_cost, actions=("cost",), extends=True),
)
