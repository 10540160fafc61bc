"""The store's commands: ``sous cache verify|du|gc``, ``sous db backup|restore`` and ``sous
models history`` (an action added to the built-in ``sous models``). Parsing and printing
only; the work is in ``engine.store``. ``COMMANDS`` lists them for ``engine.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.command import Command


def _cache_args(c: argparse.ArgumentParser) -> None:
    c.add_argument("action", choices=["verify", "du", "gc"])
    c.add_argument("--json", action="store_true")
    c.add_argument("--older-than", metavar="AGE", help="gc: entries unused for AGE (30d, 12h)")
    c.add_argument(
        "--keep-runs", type=int, metavar="N", help="gc: keep only what the N newest runs use"
    )
    c.add_argument("--orphans", action="store_true", help="gc: entries no recorded run uses")
    c.add_argument("--dry-run", action="store_true", help="gc: list what would go, remove nothing")


def _db_args(d: argparse.ArgumentParser) -> None:
    d.add_argument("action", choices=["backup", "restore"])
    d.add_argument("file", metavar="FILE", help="backup: the new file; restore: the backup")
    d.add_argument("--json", action="store_true")


def cmd_cache(args: argparse.Namespace) -> int:
    """On the cache runs use: ``$SOUS_CACHE_URL`` if set (a shared store), else
    ``$SOUS_HOME/cache``."""
    from engine.store import maintenance as m
    from engine.store.cache import QUARANTINE, ArtifactCache
    from engine.store.fs import cache_location

    cache = ArtifactCache(cache_location())
    if args.action == "verify":
        failed = m.verify(cache)
        n = len(cache.entries()) + len(failed)
        if args.json:
            _json({"checked": n, "failed": [{"key": k, "reason": r} for k, r in failed]})
        else:
            for key, why in failed:
                print(f"QUARANTINED  {key}: {why}")
            where = f"{cache.location.rstrip('/')}/{QUARANTINE}"
            print(f"{n} entries checked, {len(failed)} failed (moved to {where})")
        return 1 if failed else 0
    if args.action == "du":
        use = m.usage(cache)
        if args.json:
            _json(
                {
                    "total_bytes": use.total_bytes,
                    "entries": len(use.entries),
                    "by_step": {
                        k: {"entries": n, "bytes": b} for k, (n, b) in use.by_step().items()
                    },
                    "quarantine_bytes": use.quarantine_bytes,
                    "leftover_bytes": use.leftover_bytes,
                    "in_progress_bytes": use.in_progress_bytes,
                }
            )
            return 0
        for step, (n, size) in use.by_step().items():
            print(f"{m.human(size):>10}  {n:>5}  {step}")
        print(f"{m.human(use.quarantine_bytes):>10}         (quarantine)")
        if use.in_progress_bytes:
            print(
                f"{m.human(use.in_progress_bytes):>10}         (writes in progress, or crashed within the hour)"
            )
        if use.leftover_bytes:
            print(f"{m.human(use.leftover_bytes):>10}         (left by crashed writes)")
        print(f"{m.human(use.total_bytes):>10}  {len(use.entries):>5}  total in {cache.location}")
        return 0
    return _gc(args, cache)


def _gc(args: argparse.Namespace, cache: Any) -> int:
    from engine.home import db_url
    from engine.store import maintenance as m
    from engine.store.runs import RunsDB

    older = m.parse_age(args.older_than) if args.older_than else None
    if args.keep_runs is not None and args.keep_runs < 0:
        from engine.errors import UserError

        raise UserError("--keep-runs must be 0 or more", hint="e.g. --keep-runs 10")
    runs = RunsDB(db_url()).list(limit=1_000_000)
    removals = m.gc_plan(
        cache, runs, older_than_s=older, keep_runs=args.keep_runs, orphans=args.orphans
    )
    freed = sum(r.bytes for r in removals) if args.dry_run else m.collect(removals)
    verb = "would remove" if args.dry_run else "removed"
    if args.json:
        _json(
            {
                "dry_run": args.dry_run,
                "bytes": freed,
                "removed": [{"key": r.key, "bytes": r.bytes, "why": r.why} for r in removals],
            }
        )
        return 0
    for r in removals:
        print(f"{verb}  {m.human(r.bytes):>10}  {r.key}  ({r.why})")
    print(f"{verb} {len(removals)} entries, {m.human(freed)}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from engine.home import db_url
    from engine.store.maintenance import backup_db, restore_db

    if args.action == "backup":
        dest = backup_db(db_url(), Path(args.file))
        if args.json:
            _json({"action": "backup", "file": str(dest)})
        else:
            print(f"runs database backed up to {dest}")
        return 0
    target = restore_db(db_url(), Path(args.file))
    if args.json:
        _json(
            {"action": "restore", "database": str(target), "from": str(Path(args.file).resolve())}
        )
    else:
        print(f"runs database {target} restored from {Path(args.file).resolve()}")
    return 0


def cmd_models_history(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from engine.store import registry

    if not args.name:
        from engine.errors import UserError

        raise UserError("`sous models history` needs a model NAME", hint="sous models ls")
    events = registry.history(args.name)[-max(args.limit, 1) :]
    if not events and not registry.versions(args.name):
        from engine.errors import NotFoundError

        raise NotFoundError(f"no model named {args.name!r} in the registry")
    if args.json:
        _json([asdict(e) for e in events])
        return 0
    if not events:
        print(f"{args.name}: no alias has been moved yet")
        return 0
    head = ("at", "alias", "action", "version", "previous", "by", "run", "reason")
    rows = [
        (
            e.at[:19].replace("T", " "),
            e.alias,
            e.action + (" (forced)" if e.forced else ""),
            e.version,
            e.previous or "-",
            e.actor or "-",
            e.run_id or "-",
            e.reason or "",
        )
        for e in events
    ]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        cells = [f"{v!s:<{w}}" for v, w in zip(r[:-1], widths, strict=True)]
        print("  ".join([*cells, str(r[-1])]).rstrip())
    return 0


def _json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
    sys.stdout.flush()


COMMANDS = (
    Command(
        "cache",
        "verify, measure and garbage-collect the artifact cache",
        _cache_args,
        cmd_cache,
        description="The artifact cache under $SOUS_HOME/cache (see docs/store.md).",
    ),
    Command("db", "back up or restore the runs database (SQLite)", _db_args, cmd_db),
    Command("models", actions=("history",), run=cmd_models_history, extends=True),
)
