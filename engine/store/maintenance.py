"""Looking after the store: back up and restore the runs database, measure, verify and
garbage-collect the cache. The work behind ``sous db`` and ``sous cache``.

The cache only grows on its own (every trial of every sweep stays, so reruns are free);
``gc`` removes what no recent run uses. What a run uses is in its record (``steps[].key``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.store.cache import (
    META,
    QUARANTINE,
    ArtifactCache,
    SharedArtifactCache,
    commit_marker,
    remove_path,
)
from engine.store.db import DatabaseCorrupt, forget, sqlite_path

# -- runs database ------------------------------------------------------------------------


def _sqlite_file(url: str, verb: str) -> Path:
    path = sqlite_path(url)
    if path is None:
        raise UserError(
            f"`sous db {verb}` works on a SQLite runs database; {url.split(':', 1)[0]} is not",
            hint="use your database's own tools (pg_dump / pg_restore for PostgreSQL)",
        )
    return path


def _check_database(path: Path) -> None:
    """DatabaseCorrupt unless ``path`` is a SQLite database that passes its integrity check."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseCorrupt(str(path), str(exc)) from None
    if result is None or result[0] != "ok":
        raise DatabaseCorrupt(str(path), f"integrity check: {result[0] if result else '?'}")


def backup_db(url: str, dest: Path) -> Path:
    """A consistent copy of the runs database at ``dest`` (SQLite's online backup: safe while
    other processes use it), owner-only."""
    source = _sqlite_file(url, "backup")
    if not source.is_file():
        raise UserError(f"there is no runs database at {source} yet", hint="run a recipe first")
    dest = dest.expanduser().resolve()
    if dest.exists():
        raise UserError(f"{dest} already exists", hint="name a new file, or remove it first")
    _check_database(source)
    _copy_database(source, dest)
    return dest


def restore_db(url: str, src: Path) -> Path:
    """Replace the runs database by the backup ``src`` (checked first). Stop other Sous
    processes first: one that has the old file open keeps writing to it."""
    target = _sqlite_file(url, "restore")
    src = src.expanduser().resolve()
    if not src.is_file():
        raise UserError(f"no backup file at {src}", hint="name a file made by `sous db backup`")
    _check_database(src)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restore-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    _copy_database(src, tmp)
    forget(url)
    for suffix in ("-wal", "-shm", "-journal"):  # the old file's logs must not replay
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, target)
    return target


def _copy_database(source: Path, dest: Path) -> None:
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        out = sqlite3.connect(dest)
        try:
            src.backup(out)
            out.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            out.close()
            src.close()
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


# -- cache --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    key: str
    step: str
    bytes: int
    written_at: float  # epoch seconds: when the entry was committed


# An uncommitted file or folder untouched for this long is a crashed write's; younger, it
# may be a write in progress (a big value being saved, an upload to a shared store)
LEFTOVER_AFTER_S = 3600.0


@dataclass(frozen=True)
class Usage:
    entries: tuple[Entry, ...]
    quarantine_bytes: int
    leftover_bytes: int  # uncommitted writes untouched for LEFTOVER_AFTER_S: crashed
    in_progress_bytes: int = 0  # uncommitted writes touched since: maybe still going

    @property
    def total_bytes(self) -> int:
        kept = sum(e.bytes for e in self.entries) + self.quarantine_bytes
        return kept + self.leftover_bytes + self.in_progress_bytes

    def by_step(self) -> dict[str, tuple[int, int]]:
        """step -> (entries, bytes), largest first."""
        out: dict[str, list[int]] = {}
        for e in self.entries:
            slot = out.setdefault(e.step, [0, 0])
            slot[0] += 1
            slot[1] += e.bytes
        return {k: (v[0], v[1]) for k, v in sorted(out.items(), key=lambda kv: -kv[1][1])}


@dataclass(frozen=True)
class Removal:
    path: Path
    key: str
    bytes: int
    why: str


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _step_of(key: str) -> str:
    return key.rsplit("-", 1)[0]


def usage(cache: ArtifactCache, now: float | None = None) -> Usage:
    """What the cache holds, from the file system (no entry is read or verified). What is
    not committed is left over once nothing in it has changed for ``LEFTOVER_AFTER_S``;
    before that it counts as in progress."""
    now = time.time() if now is None else now
    if isinstance(cache, SharedArtifactCache):
        return _shared_usage(cache, now)
    entries: list[Entry] = []
    uncommitted = [0, 0]  # [left over, in progress]
    if cache.root.is_dir():
        for p in cache.root.iterdir():
            if p.name == QUARANTINE:
                continue
            marker = commit_marker(p)
            if marker is None:
                uncommitted[now - _newest(p) < LEFTOVER_AFTER_S] += _size(p)
                continue
            entries.append(Entry(p.name, _step_of(p.name), _size(p), marker.stat().st_mtime))
    q = cache.quarantine_dir()
    return Usage(tuple(entries), _size(q) if q.is_dir() else 0, *uncommitted)


def _newest(path: Path) -> float:
    """When anything under ``path`` last changed (a file being written, or one added)."""
    if path.is_file():
        return path.stat().st_mtime
    return max([path.stat().st_mtime, *(p.stat().st_mtime for p in path.rglob("*"))])


def _shared_usage(cache: SharedArtifactCache, now: float) -> Usage:
    """:func:`usage` of a shared store, through fsspec: an entry is a folder whose
    ``meta.json`` has landed; anything else is an upload, in progress while a file of it
    changed within ``LEFTOVER_AFTER_S`` (a store that gives no times: left over)."""
    files = cache.files
    entries: list[Entry] = []
    uncommitted = [0, 0]  # [left over, in progress]
    for name in files.children():
        if name == QUARANTINE:
            continue
        if name.startswith(".") or not files.exists(name, META):
            uncommitted[now - files.newest(name) < LEFTOVER_AFTER_S] += files.du(name)
            continue
        entries.append(Entry(name, _step_of(name), files.du(name), files.modified(name, META)))
    return Usage(tuple(entries), files.du(QUARANTINE), *uncommitted)


def verify(cache: ArtifactCache) -> list[tuple[str, str]]:
    """Every entry checked in full (every file's digest); the failing ones are quarantined.
    Returns (key, reason) for each that failed."""
    failed = []
    for key in cache.entries():
        why = cache.verify(key)
        if why is not None:
            failed.append((key, why))
    return failed


def used_by_runs(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """key -> when a run that used it last started (epoch seconds), from run records."""
    used: dict[str, float] = {}
    for record in records:
        started = _epoch(record.get("started_at"))
        for step in record.get("steps") or ():
            key = step.get("key") if isinstance(step, Mapping) else None
            if isinstance(key, str):
                used[key] = max(used.get(key, 0.0), started)
    return used


def _epoch(iso: Any) -> float:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return 0.0


def gc_plan(
    cache: ArtifactCache,
    runs: Sequence[Mapping[str, Any]],
    *,
    older_than_s: float | None = None,
    keep_runs: int | None = None,
    orphans: bool = False,
    now: float | None = None,
) -> list[Removal]:
    """What ``sous cache gc`` would remove. ``runs``: run records, newest first.

    - ``older_than_s``: entries not used by any run (nor written) in that long; quarantined
      entries and crash leftovers of that age too;
    - ``keep_runs``: entries used by none of the ``keep_runs`` newest runs;
    - ``orphans``: entries no recorded run uses, and crash leftovers older than an hour.
    """
    if older_than_s is None and keep_runs is None and not orphans:
        raise UserError(
            "say what to collect",
            hint="--older-than 30d, --keep-runs N or --orphans (with --dry-run to look first)",
        )
    if isinstance(cache, SharedArtifactCache):
        raise UserError(
            f"sous cache gc collects a local cache; the cache is the shared store "
            f"{cache.location} ($SOUS_CACHE_URL), whose entries other machines' runs use too, "
            "and this machine's runs database does not list those runs",
            hint="expire the store's entries with its own tools (an S3 lifecycle rule); "
            "to collect $SOUS_HOME/cache instead, run without $SOUS_CACHE_URL",
        )
    now = time.time() if now is None else now
    used = used_by_runs(runs)
    kept = set(used_by_runs(runs[:keep_runs])) if keep_runs is not None else set()
    info = usage(cache)
    out: list[Removal] = []
    for e in info.entries:
        last = max(used.get(e.key, 0.0), e.written_at)
        if older_than_s is not None and now - last > older_than_s:
            out.append(Removal(cache.path(e.key), e.key, e.bytes, f"unused for {_age(now - last)}"))
        elif keep_runs is not None and e.key not in kept:
            out.append(
                Removal(cache.path(e.key), e.key, e.bytes, f"not in the last {keep_runs} runs")
            )
        elif orphans and e.key not in used:
            out.append(Removal(cache.path(e.key), e.key, e.bytes, "no recorded run uses it"))
    out += _litter(cache, now, older_than_s, orphans)
    return out


def _litter(
    cache: ArtifactCache, now: float, older_than_s: float | None, orphans: bool
) -> list[Removal]:
    """Quarantined entries and temp directories of crashed writes that are old enough."""
    limit = older_than_s if older_than_s is not None else (LEFTOVER_AFTER_S if orphans else None)
    if limit is None or not cache.root.is_dir():
        return []
    found = []
    q = cache.quarantine_dir()
    places = [*(q.iterdir() if q.is_dir() else ())]
    places += [p for p in cache.root.iterdir() if p.name != QUARANTINE and commit_marker(p) is None]
    for p in places:
        quarantined = p.parent == q
        # a write is judged by its newest change, as du judges it (a long write changes its
        # file, not the folder it is in)
        age = now - (p.stat().st_mtime if quarantined else _newest(p))
        if age > limit:
            why = "quarantined" if quarantined else "left by a crashed write"
            found.append(Removal(p, p.name, _size(p), f"{why} {_age(age)} ago"))
    return found


def collect(removals: Iterable[Removal]) -> int:
    """Remove what :func:`gc_plan` found; returns the bytes freed."""
    freed = 0
    for r in removals:
        remove_path(r.path)
        freed += r.bytes
    return freed


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` -> seconds."""
    t = text.strip().lower()
    if t[-1:] in _UNITS and t[:-1].replace(".", "", 1).isdigit():
        return float(t[:-1]) * _UNITS[t[-1]]
    raise UserError(
        f"--older-than {text!r} is not an age",
        hint="a number and a unit: 30d, 12h, 90m, 2w",
    )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
