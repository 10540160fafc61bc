"""Whole-state backup and restore of a ``$SOUS_HOME``: the runs database (which holds the
registry), BentoML's model store (models and Bentos) and, optionally, the artifact cache.
The work behind ``sous backup`` and ``sous restore``.

Consistent while runs go on: the database is copied first with SQLite's online backup API
(readers never block writers in WAL mode), then the store's files. A run commits its model
and Bento to the store *before* it records them in the registry, so every version the copied
database names is already in the store when the files are copied after it. Store entries are
copied only once complete (``model.yaml``/``bento.yaml``; the cache's commit marker), each
file hashed while copied and the copy read back and compared (copy-then-verify).

``manifest.json`` (what, sizes, SHA-256 digests, when, which Sous) is written last: it is the
commit marker, so an interrupted backup is never mistaken for a complete one. A restore
checks every digest before it touches the home, then builds the new home in a temporary
directory beside it and renames it into place, so a failed restore leaves the home as it was.

Digests detect damage, not tampering: restore only backups you made. Cache entries stay
signed under the key that wrote them (docs/store.md): restored on a machine with another
signing key they are cache misses, recomputed on the next run, never loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from engine.errors import RunError, UserError
from engine.store.cache import ArtifactCache, remove_path
from engine.store.db import forget, sqlite_path

MANIFEST = "manifest.json"
FORMAT = "sous-backup/1"
DB_FILE = "runs.db"  # the database's name inside a backup
PARTS = ("runs_db", "models", "bentos", "cache")
_STORE_MARKERS = {"models": "model.yaml", "bentos": "bento.yaml"}
_CHUNK = 1 << 20
_ATTEMPTS = 3  # a file that changes while it is copied is copied again this many times


@dataclass(frozen=True)
class FileEntry:
    """One file of a backup: its path inside the backup (POSIX), size and SHA-256."""

    path: str
    bytes: int
    sha256: str
    part: str  # one of PARTS


@dataclass(frozen=True)
class Manifest:
    format: str
    sous_version: str
    created_at: str
    source_home: str
    with_cache: bool
    files: tuple[FileEntry, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def count(self, part: str) -> int:
        """How many store entries (models, Bentos, cache entries) or files (runs_db)."""
        if part == "runs_db":
            return sum(1 for f in self.files if f.part == part)
        # cache/KEY (a packed entry) or cache/KEY/..., bentoml/models/NAME/VERSION/...
        depth, least = (2, 2) if part == "cache" else (4, 5)
        return len(
            {
                PurePosixPath(f.path).parts[:depth]
                for f in self.files
                if f.part == part and len(PurePosixPath(f.path).parts) >= least
            }
        )

    def to_json(self) -> str:
        body = {
            "format": self.format,
            "sous_version": self.sous_version,
            "created_at": self.created_at,
            "source_home": self.source_home,
            "with_cache": self.with_cache,
            "total_bytes": self.total_bytes,
            "counts": {p: self.count(p) for p in PARTS},
            "files": [
                {"path": f.path, "bytes": f.bytes, "sha256": f.sha256, "part": f.part}
                for f in self.files
            ],
        }
        return json.dumps(body, indent=1)

    @classmethod
    def from_json(cls, text: str, where: Path) -> Manifest:
        try:
            body = json.loads(text)
            if body.get("format") != FORMAT:
                raise ValueError(f"format {body.get('format')!r}, expected {FORMAT!r}")
            files = tuple(
                FileEntry(str(f["path"]), int(f["bytes"]), str(f["sha256"]), str(f["part"]))
                for f in body["files"]
            )
            return cls(
                FORMAT,
                str(body["sous_version"]),
                str(body["created_at"]),
                str(body["source_home"]),
                bool(body["with_cache"]),
                files,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(
                f"{where} is not a Sous backup manifest ({exc})",
                hint="name a directory made by `sous backup`",
            ) from None


@dataclass(frozen=True)
class Restored:
    home: Path
    manifest: Manifest
    previous: Path | None  # where the home that was replaced (--force) was moved


def sqlite_file(url: str, verb: str) -> Path:
    """The runs database's file; a UserError for a server database (PostgreSQL ...)."""
    path = sqlite_path(url)
    if path is None:
        raise UserError(
            f"`sous {verb}` copies a SQLite runs database; SOUS_DB_URL names a "
            f"{url.split(':', 1)[0]} database, which Sous cannot copy consistently itself",
            hint="back it up with the database's own tools (pg_dump -Fc / pg_restore for "
            "PostgreSQL, see docs/scale.md), and unset SOUS_DB_URL for the rest of the home",
        )
    return path


# -- backup -------------------------------------------------------------------------------


def backup(home: Path, db_url: str, dest: Path, *, with_cache: bool = False) -> Manifest:
    """Copy the state of ``home`` into the new directory ``dest`` and write its manifest."""
    db = sqlite_file(db_url, "backup")
    if not db.is_file():
        raise UserError(f"there is no runs database at {db} yet", hint="run a recipe first")
    dest = dest.expanduser().resolve()
    home = home.resolve()
    if dest == home or home in dest.parents:
        raise UserError(
            f"the backup {dest} would be inside the home {home} it copies",
            hint="put backups outside $SOUS_HOME",
        )
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest} already exists and is not empty", hint="name a new directory")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return _backup_into(home, db_url, dest, with_cache)
    except BaseException:  # no half backup left behind (a SIGKILL leaves one without manifest)
        for child in dest.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        raise


def _backup_into(home: Path, db_url: str, dest: Path, with_cache: bool) -> Manifest:
    from engine import __version__
    from engine.store.maintenance import backup_db

    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    backup_db(db_url, dest / DB_FILE)  # first: everything it names is in the store already
    files = [_entry(dest, DB_FILE, "runs_db")]
    bentoml = home / "bentoml"
    for part, marker in _STORE_MARKERS.items():
        for entry in _complete_entries(bentoml / part, marker, depth=2):
            files += _copy_entry(entry, home, dest, part)
        for latest in sorted((bentoml / part).glob("*/latest")):
            with contextlib.suppress(FileNotFoundError):
                files.append(_copy_file(latest, home, dest, part))
    if with_cache:
        cache = ArtifactCache(home / "cache")
        for key in cache.entries():
            files += _copy_entry(cache.path(key), home, dest, "cache")
    manifest = Manifest(FORMAT, __version__, created_at, str(home), with_cache, tuple(files))
    _write_atomic(dest / MANIFEST, manifest.to_json())
    return manifest


def _complete_entries(root: Path, marker: str, depth: int) -> list[Path]:
    """Entry directories ``depth`` levels under ``root`` that hold their commit marker."""
    if not root.is_dir():
        return []
    pattern = "/".join(["[!.]*"] * depth)
    return sorted(p for p in root.glob(pattern) if p.is_dir() and (p / marker).is_file())


def _copy_entry(entry: Path, home: Path, dest: Path, part: str) -> list[FileEntry]:
    """Every file of one store entry (a packed cache entry is one file); an entry removed
    meanwhile (gc, delete) is skipped."""
    out = []
    try:
        inside = [entry] if entry.is_file() else entry.rglob("*")
        for src in sorted(p for p in inside if p.is_file() and not p.is_symlink()):
            out.append(_copy_file(src, home, dest, part))
    except FileNotFoundError:  # what was copied of it goes too: a file, or a folder
        remove_path(dest / entry.relative_to(home))
        return []
    return out


def _copy_file(src: Path, home: Path, dest: Path, part: str) -> FileEntry:
    rel = src.relative_to(home).as_posix()
    target = dest / rel
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for _ in range(_ATTEMPTS):
        before = src.stat()
        digest, size = _copy_hashing(src, target)
        after = src.stat()
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
            if _sha256(target) != digest:
                raise RunError(f"the copy of {src} at {target} reads back differently")
            return FileEntry(rel, size, digest, part)
    raise RunError(f"{src} kept changing while it was copied ({_ATTEMPTS} tries)")


def _copy_hashing(src: Path, target: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with src.open("rb") as fin, target.open("wb") as fout:
        os.chmod(target, 0o600)
        while chunk := fin.read(_CHUNK):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return h.hexdigest(), size


def _entry(root: Path, rel: str, part: str) -> FileEntry:
    path = root / rel
    return FileEntry(rel, path.stat().st_size, _sha256(path), part)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- restore ------------------------------------------------------------------------------


def read_manifest(src: Path) -> Manifest:
    """The manifest of the backup ``src``; a UserError when there is none (not a backup, or
    one that was interrupted before its commit marker)."""
    path = src / MANIFEST
    if not path.is_file():
        raise UserError(
            f"{src} is not a complete Sous backup: it has no {MANIFEST}",
            hint="name a directory made by `sous backup` (an interrupted backup has no manifest)",
        )
    return Manifest.from_json(path.read_text(), path)


def verify(src: Path, manifest: Manifest) -> None:
    """Every file the manifest lists is in ``src`` with its size and digest; else a one-line
    UserError naming the first damaged file."""
    for f in manifest.files:
        path = _inside(src, f.path)
        why = None
        if not path.is_file():
            why = "is missing"
        elif path.stat().st_size != f.bytes:
            why = f"has {path.stat().st_size} bytes, the manifest says {f.bytes}"
        elif _sha256(path) != f.sha256:
            why = "does not match its SHA-256 digest in the manifest"
        if why:
            raise UserError(f"backup {src} is damaged: {f.path} {why}; nothing was restored")


def _inside(root: Path, rel: str) -> Path:
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise UserError(f"backup manifest names a path outside the backup: {rel!r}")
    return root.joinpath(*pure.parts)


def restore(src: Path, home: Path, db_url: str, *, force: bool = False) -> Restored:
    """Replace ``home`` by the backup ``src``: verified first, built beside the home, renamed
    into place. A non-empty home is refused unless ``force`` (it is then moved aside)."""
    db = sqlite_file(db_url, "restore")
    src = src.expanduser().resolve()
    home = home.expanduser().resolve()
    if not src.is_dir():
        raise UserError(
            f"no backup directory at {src}", hint="name a directory made by `sous backup`"
        )
    manifest = read_manifest(src)
    verify(src, manifest)
    db_in_home = db.resolve().parent == home
    occupied = _non_empty(home) or (not db_in_home and db.exists())
    if occupied and not force:
        raise UserError(
            f"{home} is not empty: restoring would replace its runs, registry and models",
            hint="restore into an empty $SOUS_HOME, or pass --force (the current home is "
            "moved aside, not deleted)",
        )
    if os.path.ismount(home):
        raise UserError(
            f"{home} is a mount point: a restore replaces the home by renaming a new one into "
            "place, which a mount point cannot take",
            hint=f"restore into a directory inside it: SOUS_HOME={home / 'sous'}",
        )
    tmp = home.parent / f".{home.name}.restore-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700, parents=True)
    try:
        for f in manifest.files:
            rel = db.name if (f.part == "runs_db" and db_in_home) else f.path
            target = _inside(tmp, rel)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            digest, _ = _copy_hashing(_inside(src, f.path), target)
            if digest != f.sha256 or _sha256(target) != f.sha256:
                raise RunError(f"the restored copy of {f.path} differs from the backup")
        _fsync_dir(tmp)
        previous = _swap(tmp, home)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    forget(db_url)
    if not db_in_home:
        from engine.store.maintenance import restore_db

        restore_db(db_url, home / DB_FILE)
        (home / DB_FILE).unlink()
    return Restored(home, manifest, previous)


def _non_empty(home: Path) -> bool:
    return home.is_dir() and any(home.iterdir())


def _swap(tmp: Path, home: Path) -> Path | None:
    """Rename ``tmp`` to ``home``: over a missing or empty directory in one step; a non-empty
    home is first renamed aside (returned)."""
    if not _non_empty(home):
        os.rename(tmp, home)  # POSIX: replaces an empty directory atomically
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    previous = home.with_name(f"{home.name}.before-restore-{stamp}")
    os.rename(home, previous)
    os.rename(tmp, home)
    return previous
