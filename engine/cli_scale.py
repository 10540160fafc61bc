"""Commands for state past one machine: ``sous backup``, ``sous restore`` and
``sous runs cost``. Parsing and printing only; the work is in ``engine.store.backup`` and
``engine.costs``.

``register`` adds them to the main parser and returns their handlers (``engine.cli`` calls
it once). ``runs`` is defined in ``engine.cli``: its parser gets the ``cost`` action and its
options here, and its handler is wrapped so that every other action goes on as before.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]


# The built-in handlers this module extends (given by ``register``; importing engine.cli
# here would be a cycle: the CLI imports this module).
_BUILT_IN: dict[str, Handler] = {}


def register(sub: Any, built_in: Mapping[str, Handler] | None = None) -> dict[str, Handler]:
    """Add ``backup``, ``restore`` and ``runs cost`` to ``sub`` (the main subparsers);
    ``built_in``: the CLI's own handlers, for ``runs`` which this module extends."""
    _BUILT_IN.update(built_in or {})
    b = sub.add_parser(
        "backup",
        help="back up the runs database, registry and model store (the cache optionally)",
        description="Copy the state of $SOUS_HOME into a new directory DEST, consistently "
        "while runs go on; manifest.json (sizes and SHA-256 digests) is written last. "
        "See docs/scale.md.",
    )
    b.add_argument("dest", metavar="DEST", help="a new (or empty) directory")
    b.add_argument("--with-cache", action="store_true", help="also copy the artifact cache")
    b.add_argument("--json", action="store_true", help="print the manifest's summary as JSON")

    r = sub.add_parser(
        "restore",
        help="restore $SOUS_HOME from a backup (digests checked first)",
        description="Check every file of SRC against its manifest, then replace $SOUS_HOME "
        "by it in one rename. See docs/scale.md.",
    )
    r.add_argument("src", metavar="SRC", help="a directory made by `sous backup`")
    r.add_argument(
        "--force",
        action="store_true",
        help="restore over a non-empty home (it is moved aside to HOME.before-restore-TIME)",
    )
    r.add_argument("--json", action="store_true")

    if "runs" in sub.choices:
        runs = sub.choices["runs"]
        for action in runs._actions:
            if action.dest == "action" and action.choices is not None:
                action.choices = [*action.choices, "cost"]
        runs.add_argument(
            "--by",
            choices=["recipe", "model", "day", "week", "month"],
            default="recipe",
            help="cost: how to group (default: recipe)",
        )
        runs.add_argument(
            "--since", metavar="T", help="cost: runs started since T (2026-11-01, or 7d, 12h)"
        )
    return {"backup": cmd_backup, "restore": cmd_restore, "runs": cmd_runs}


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


def cmd_runs(args: argparse.Namespace) -> int:
    if args.action != "cost":
        return _BUILT_IN["runs"](args)
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
