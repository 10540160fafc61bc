"""The keyed artifact cache: every node output lives under its key, written atomically, and
read back only if Sous wrote it.

An entry's meta (step, wall and CPU seconds, peak memory, the size and SHA-256 digest of every
file, and an HMAC of all that under the signing key, see :mod:`engine.store.signing`) comes
with its value (cloudpickle) in one of two layouts:

- **packed**, for a value that declares no artifacts (most nodes: fits, scores, splits): one
  file ``<root>/<key>``, the value's bytes, then the signed meta, then a 16-byte footer (the
  meta's length and :data:`PACKED_MAGIC`). Written as one temp file beside it and renamed into
  place: two file-system operations per node, where a directory costs four (a mkdir, two
  files, a rename), which on a slow or shared disk was most of the engine's cost per node;
- **a directory** ``<root>/<key>/`` holding ``value.pkl``, ``meta.json`` and the artifacts
  the value declares (``artifacts()`` -> parquet, text, bytes: real files a user opens).
  Written into a temp directory beside it and renamed into place; ``meta.json`` is the commit
  marker.

Either way a crash never leaves a partial entry that looks complete (:func:`commit_marker`
tells a committed entry from a write in progress). A value with ``for_cache()`` is stored as
what that returns (parts it only needs in memory left out).

Keys are the same on every machine and ``$SOUS_HOME`` may come from a clone or a shared disk,
so an entry is trusted only once verified: ``has()``/``meta()`` check the HMAC of
``meta.json`` and the file sizes (cheap: called for every node of a plan), ``load()`` also
checks the value's digest before unpickling it. An entry that fails is a miss: moved aside to
``<root>/.quarantine/``, reported in one line on the ``sous.store`` logger, recomputed.

With encryption at rest on (:mod:`engine.security.at_rest`) the value and every artifact are
sealed; digests and sizes are over the sealed bytes on disk, so verification needs no key.
Read artifacts with :meth:`ArtifactCache.read_artifact`, which opens them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import RunError
from engine.security import at_rest
from engine.store import fs, signing

META = "meta.json"
VALUE = "value.pkl"
QUARANTINE = ".quarantine"
PACKED_MAGIC = b"SOUSENT1"  # ends a packed entry, after the meta's length (8 bytes, big-endian)
_FOOTER = 8 + len(PACKED_MAGIC)
log = logging.getLogger("sous.store")


@dataclass(frozen=True)
class EntryMeta:
    """What is known about how an entry was computed: the resource accounting of its step,
    and the size and digest of each of its files (filled in by :meth:`ArtifactCache.save`)."""

    key: str
    step: str
    wall_s: float
    cpu_s: float
    peak_mem_mb: float
    artifacts: tuple[str, ...] = ()
    rows: int | None = None  # rows of a table-like output, for the run record
    artifact_rows: Mapping[str, int] = field(default_factory=dict)  # rows of each table artifact
    digests: Mapping[str, str] = field(default_factory=dict)  # file name -> SHA-256 hex
    sizes: Mapping[str, int] = field(default_factory=dict)  # file name -> bytes

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EntryMeta:
        return cls(
            key=d["key"],
            step=d["step"],
            wall_s=float(d["wall_s"]),
            cpu_s=float(d["cpu_s"]),
            peak_mem_mb=float(d["peak_mem_mb"]),
            artifacts=tuple(d.get("artifacts", ())),
            rows=d.get("rows"),
            artifact_rows=dict(d.get("artifact_rows", {})),
            digests=dict(d.get("digests", {})),
            sizes={k: int(v) for k, v in dict(d.get("sizes", {})).items()},
        )


class CorruptEntry(RunError):
    """A cache entry failed verification when it was loaded; it was moved to quarantine."""

    def __init__(self, key: str, reason: str, moved_to: Path | str | None):
        self.key = key
        self.reason = reason
        self.moved_to = moved_to
        where = f"moved to {moved_to}" if moved_to else "already moved aside"
        super().__init__(
            f"cache entry {key} failed verification ({reason}), {where}; run again to recompute it"
        )


class _Invalid(Exception):
    """Why an entry is not trusted (internal: becomes a miss, or a CorruptEntry on load)."""


MISS: Any = object()  # what :meth:`ArtifactCache.get` returns for a missing or untrusted entry


class ArtifactCache:
    """Keyed, atomic, process-safe store of node outputs on a (shared) filesystem.

    A URL root (``s3://bucket/prefix``, ``file:///mnt/team/cache``) makes a
    :class:`SharedArtifactCache` (same guarantees, through fsspec): workers build their cache
    from the root string they are given, so the choice travels with it."""

    packs = True  # values without artifacts are stored as one file (see the module's doc)

    def __new__(cls, root: str | os.PathLike[str] | None = None) -> ArtifactCache:
        # root None: unpickling, which sets the attributes itself
        if cls is ArtifactCache and root is not None and fs.is_url(root):
            return super().__new__(SharedArtifactCache)
        return super().__new__(cls)

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.location = os.fspath(root)  # what workers are handed: a path or a URL
        # key -> (stat signature of meta.json and value.pkl, verified meta): has() on an
        # unchanged entry costs two stats, not a read and an HMAC
        self._verified: dict[str, tuple[tuple[int, ...], EntryMeta]] = {}

    def path(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        """True for an entry that is complete and authentic (its meta signed, sizes right);
        an untrusted one is quarantined and reported, and is a miss."""
        return self._trusted_meta(key) is not None

    def meta(self, key: str) -> EntryMeta:
        meta = self._trusted_meta(key)
        if meta is None:
            raise CorruptEntry(key, "missing or not signed", None)
        return meta

    def load(self, key: str) -> Any:
        """The entry's value, unpickled only after its digest matched the signed meta;
        :class:`CorruptEntry` (one line, exit 1) if it is missing or untrusted."""
        value, why, moved = self._fetch(key)
        if value is MISS:
            raise CorruptEntry(key, why, moved)
        return value

    def get(self, key: str) -> Any:
        """The entry's value, or :data:`MISS` if it is missing or fails verification (then
        it is quarantined and reported): for callers that recompute on a miss."""
        return self._fetch(key)[0]

    def _fetch(self, key: str) -> tuple[Any, str, Path | str | None]:
        import cloudpickle

        meta = self._trusted_meta(key)
        if meta is None:
            return MISS, "missing, incomplete or not signed", None
        where: Path | str  # named if the value cannot be opened
        try:
            try:
                data = self._read(key, VALUE)
                where = self.artifact_path(key, VALUE)
            except NotADirectoryError:  # packed: the value with the meta of the same write
                meta, data = self._packed_entry(key)
                where = self.path(key)
        except OSError as exc:
            why = f"value unreadable: {exc.strerror or exc}"
            return MISS, why, self._quarantine(key, why)
        except _Invalid as invalid:
            return MISS, str(invalid), self._quarantine(key, str(invalid))
        if hashlib.sha256(data).hexdigest() != meta.digests.get(VALUE):
            why = "value digest does not match its signed meta"
            return MISS, why, self._quarantine(key, why)
        # authentic (digest over the bytes on disk): opened only now, with the operator's key
        return cloudpickle.loads(at_rest.unseal(data, where=str(where))), "", None

    def read_artifact(self, key: str, name: str) -> bytes:
        """An artifact's plain bytes (opened if it was sealed, see :mod:`engine.security.at_rest`);
        size and digest checked against the signed meta first: :class:`CorruptEntry` if not."""
        meta = self.meta(key)
        try:
            data = self._read(key, name)
        except OSError as exc:
            why = f"{name} unreadable: {exc.strerror or exc}"
            raise CorruptEntry(key, why, self._quarantine(key, why)) from None
        if hashlib.sha256(data).hexdigest() != meta.digests.get(name):
            why = f"{name}: digest does not match its signed meta"
            raise CorruptEntry(key, why, self._quarantine(key, why))
        return at_rest.unseal(data, where=str(self.artifact_path(key, name)))

    def artifact_path(self, key: str, name: str) -> Path | str:
        """Where an artifact is (a path; a URL for a shared store): to show, not to read. A
        packed entry's value is the entry's file itself."""
        entry = self.path(key)
        return entry if name == VALUE and entry.is_file() else entry / name

    def save(self, key: str, value: Any, meta: EntryMeta) -> None:
        """Write the entry under a temp name, then rename it into place: one file for a value
        without artifacts (:meth:`_save_packed`), else a directory (first writer wins).

        Kept to the fewest file operations, as it runs once per computed node: for a
        directory one mkdir, the value and ``meta.json`` each opened once, the meta encoded
        and signed once, one rename (an existing entry is only looked at when the rename
        finds one)."""
        import cloudpickle

        trim = getattr(value, "for_cache", None)  # a value may keep parts in memory only
        stored = trim() if callable(trim) else value
        if self.packs and not callable(getattr(value, "artifacts", None)):
            self._save_packed(key, stored, value, meta)
            return
        tmp = self._staging_dir(key)
        committed = False
        try:
            if at_rest.enabled():  # sealed whole (Fernet has no streaming form)
                at_rest.write_sealed(tmp / VALUE, cloudpickle.dumps(stored))
                digests = {VALUE: signing.file_digest(tmp / VALUE)}
                sizes = {VALUE: (tmp / VALUE).stat().st_size}
            else:
                # no fsync: after a power loss a renamed entry may hold short files, which
                # fail the size check against the signed meta and are recomputed; a sync per
                # node was about half the engine's own cost per node (benchmarks.md)
                fd = _create(os.path.join(tmp, VALUE))
                try:
                    writer = _HashingWriter(fd)
                    cloudpickle.dump(stored, writer)  # pickle frames its output: few writes
                finally:
                    os.close(fd)
                digests = {VALUE: writer.digest.hexdigest()}
                sizes = {VALUE: writer.size}
            names, table_rows = _write_artifacts(tmp, value)
            for name in names:
                digests[name] = signing.file_digest(tmp / name)
                sizes[name] = (tmp / name).stat().st_size
            meta = replace(
                meta,
                key=key,
                artifacts=names,
                rows=_rows(value),
                artifact_rows=table_rows,
                digests=digests,
                sizes=sizes,
            )
            _write_new(os.path.join(tmp, META), _signed_meta_bytes(meta))
            committed = self._commit(key, tmp)
        finally:
            if not committed:
                shutil.rmtree(tmp, ignore_errors=True)

    def _save_packed(self, key: str, stored: Any, value: Any, meta: EntryMeta) -> None:
        """One file: the value, the signed meta, the footer; written under a temp name beside
        the entry (owner-only, as ``mkstemp`` makes it) and renamed into place."""
        import cloudpickle

        fd, tmp = self._staging_file(key)
        committed = False
        try:
            try:
                if at_rest.enabled():  # sealed whole (Fernet has no streaming form)
                    data = at_rest.seal(cloudpickle.dumps(stored))
                    digest, size = hashlib.sha256(data).hexdigest(), len(data)
                    _write_all(fd, data)
                else:  # no fsync, as for a directory entry (see save)
                    writer = _HashingWriter(fd)
                    cloudpickle.dump(stored, writer)
                    digest, size = writer.digest.hexdigest(), writer.size
                meta = replace(
                    meta,
                    key=key,
                    artifacts=(),
                    rows=_rows(value),
                    artifact_rows={},
                    digests={VALUE: digest},
                    sizes={VALUE: size},
                )
                body = _signed_meta_bytes(meta)
                _write_all(fd, body + len(body).to_bytes(8, "big") + PACKED_MAGIC)
            finally:
                os.close(fd)
            committed = self._commit(key, Path(tmp))
        finally:
            if not committed:
                remove_path(Path(tmp))

    def verify(self, key: str) -> str | None:
        """Full check of one entry (every file's digest), for ``sous cache verify``: None if
        it is sound, else why not (the entry is then quarantined)."""
        try:
            try:
                meta = self._read_meta(key)
                actual = {name: self._digest(key, name) for name in meta.digests}
            except NotADirectoryError:  # packed: both parts from one read
                meta, data = self._packed_entry(key)
                actual = {VALUE: hashlib.sha256(data).hexdigest()}
            for name, digest in meta.digests.items():
                if actual.get(name) != digest:
                    raise _Invalid(f"{name}: digest does not match its signed meta")
        except _Invalid as why:
            self._quarantine(key, str(why))
            return str(why)
        except OSError as exc:
            self._quarantine(key, f"unreadable: {exc.strerror or exc}")
            return f"unreadable: {exc.strerror or exc}"
        return None

    def entries(self) -> list[str]:
        """Every committed entry's key (see :func:`commit_marker`), unverified."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if commit_marker(p) is not None)

    def quarantine_dir(self) -> Path:
        return self.root / QUARANTINE

    # -- the files of an entry (a SharedArtifactCache reaches them through fsspec) -----------
    def _stamp(self, key: str) -> tuple[int, ...]:
        """A cheap signature of the committed entry (FileNotFoundError: none); () when
        unknown, which turns off the memo of verified entries."""
        entry = os.path.join(self.root, key)  # asked per node: plain strings, not pathlib
        try:
            meta_st = os.stat(os.path.join(entry, META))
        except NotADirectoryError:  # a packed entry: its one file
            return _stat_sig(os.stat(entry))
        try:
            return (*_stat_sig(meta_st), *_stat_sig(os.stat(os.path.join(entry, VALUE))))
        except OSError:
            return ()

    def _size(self, key: str, name: str) -> int:
        return os.stat(self.path(key) / name).st_size

    def _read(self, key: str, name: str) -> bytes:
        """One file of a directory entry (NotADirectoryError: the entry is packed)."""
        return (self.path(key) / name).read_bytes()

    def _digest(self, key: str, name: str) -> str:
        return signing.file_digest(self.path(key) / name)

    def _packed_meta(self, key: str) -> tuple[bytes, int]:
        """A packed entry's meta bytes and its value's length, from one open (see
        :meth:`_packed_entry`)."""
        with open(self.path(key), "rb") as f:
            meta, value_len = _packed_parts(f)
            return meta, value_len

    def _packed_entry(self, key: str) -> tuple[EntryMeta, bytes]:
        """A packed entry's checked meta and its value's bytes, from one open: the file may
        be replaced meanwhile (a packed entry is replaced whole), and parts read through two
        opens could come from two writes."""
        with open(self.path(key), "rb") as f:
            raw, value_len = _packed_parts(f)
            f.seek(0)
            data = f.read(value_len)
        return self._parse_meta(key, raw), data

    def _staging_file(self, key: str) -> tuple[int, str]:
        """A new owner-only temp file beside the entry, open for writing (see _staging_dir)."""
        try:
            return tempfile.mkstemp(prefix=f".{key}.", dir=self.root)
        except FileNotFoundError:  # no root yet, or it was cleared since
            self.root.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(prefix=f".{key}.", dir=self.root)

    def _staging_dir(self, key: str) -> Path:
        """A fresh temp directory for one entry, beside it (same filesystem, so the commit is
        a rename). The root is created on first need only, not asked for every entry."""
        where = self._staging()
        try:
            return Path(tempfile.mkdtemp(prefix=f".{key}.", dir=where))
        except FileNotFoundError:  # no root yet, or it was cleared since
            if where is None:
                raise
            where.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f".{key}.", dir=where))

    def _staging(self) -> Path | None:
        """Where an entry is written before it is committed (beside it: same filesystem)."""
        return self.root

    # -- verification -----------------------------------------------------------------------
    def _trusted_meta(self, key: str) -> EntryMeta | None:
        try:
            sig = self._stamp(key)
        except FileNotFoundError:
            self._verified.pop(key, None)
            return None  # no entry, or a partial one left by a crash (replaced on save)
        except OSError:
            return None
        known = self._verified.get(key)
        if known is not None and sig and known[0] == sig:
            return known[1]
        try:
            meta, actual_size = self._meta_and_sizes(key)
            for name, size in meta.sizes.items():
                if (actual := actual_size(name)) != size:
                    raise _Invalid(f"{name} is {actual} bytes, not {size}")
        except FileNotFoundError as exc:
            self._quarantine(key, f"{_missing_name(exc)} is missing")
            return None
        except _Invalid as why:
            self._quarantine(key, str(why))
            return None
        except OSError as exc:
            self._quarantine(key, f"unreadable: {exc.strerror}")
            return None
        if sig:
            self._verified[key] = (sig, meta)
        return meta

    def _meta_and_sizes(self, key: str) -> tuple[EntryMeta, Callable[[str], int]]:
        """The entry's checked meta, and the actual size of each of its parts."""
        try:
            meta = self._read_meta(key)
        except NotADirectoryError:  # packed: both from one read of its file
            raw, value_len = self._packed_meta(key)
            return self._parse_meta(key, raw), {VALUE: value_len}.__getitem__
        return meta, lambda name: self._size(key, name)

    def _read_meta(self, key: str) -> EntryMeta:
        """A directory entry's meta, checked (see :meth:`_parse_meta`)."""
        return self._parse_meta(key, self._read(key, META))

    def _parse_meta(self, key: str, raw: bytes) -> EntryMeta:
        """The entry's meta if it is well-formed, signed under our key and names this key."""
        try:
            d = json.loads(raw)
            tag = d.pop("hmac", None)
            if not isinstance(tag, str):
                raise _Invalid("meta.json is not signed")
            if not signing.verify(_canonical(d), tag):
                raise _Invalid("meta.json signature does not match (not written with this key)")
            meta = EntryMeta.from_dict(d)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _Invalid(f"meta.json is malformed ({type(exc).__name__})") from None
        if meta.key != key:
            raise _Invalid(f"meta.json belongs to another key ({meta.key})")
        if VALUE not in meta.digests or VALUE not in meta.sizes:
            raise _Invalid("meta.json records no value digest")
        return meta

    def _quarantine(self, key: str, reason: str) -> Path | str | None:
        """Move an untrusted entry aside (owner-only) and say so in one line."""
        self._verified.pop(key, None)
        qdir = self.quarantine_dir()
        qdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(qdir, 0o700)
        dest = qdir / f"{key}.{time.strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:6]}"
        entry = self.path(key)
        packed = entry.is_file()  # moved into a folder of its own, beside the reason
        if packed:
            dest.mkdir(mode=0o700)
        try:
            os.replace(entry, dest / key if packed else dest)
        except FileNotFoundError:
            if packed:
                dest.rmdir()
            return None  # another process moved it first
        except OSError as exc:
            if packed:
                dest.rmdir()
            log.warning("cache entry %s is untrusted (%s); could not move it: %s", key, reason, exc)
            return None
        os.chmod(dest, 0o700)
        (dest / "QUARANTINED").write_text(f"{reason}\n")
        log.warning(
            "cache entry %s is untrusted (%s): moved to %s; it is a cache miss", key, reason, dest
        )
        return dest

    def _commit(self, key: str, tmp: Path) -> bool:
        """Rename ``tmp`` (a directory, or a packed entry's file) into place; False when an
        identical, trusted entry was there first (``tmp`` is then the caller's to remove).
        The rename is tried first: it fails only if an entry exists, and only then is that
        entry looked at. A packed file replaces a packed file (the same key: the same value),
        which readers see whole, old or new."""
        final = self.path(key)
        for _ in range(2):
            try:
                os.replace(tmp, final)
                return True
            except OSError:
                if not final.exists():
                    raise
            if self._trusted_meta(key) is not None:
                return False  # an identical entry won the race; ours is redundant
            if final.exists():  # a stale partial left by a crash: move it aside, replace it
                stale = final.with_name(f".stale-{final.name}-{uuid.uuid4().hex[:8]}")
                with contextlib.suppress(FileNotFoundError):
                    os.replace(final, stale)
                    remove_path(stale)
        os.replace(tmp, final)  # a third writer's partial in the meantime: give up loudly
        return True

    def committed_at(self, key: str) -> float | None:
        """When the entry was committed (epoch seconds; its :func:`commit_marker`'s time),
        None if there is none. Not verified: for showing when, never for trusting what."""
        marker = commit_marker(self.path(key))
        try:
            return marker.stat().st_mtime if marker is not None else None
        except OSError:  # removed meanwhile
            return None

    def remove(self, key: str) -> None:
        """Delete one entry, whichever its layout (already gone: nothing to do)."""
        self._verified.pop(key, None)
        remove_path(self.path(key))

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class SharedArtifactCache(ArtifactCache):
    """The cache on any fsspec filesystem (``$SOUS_CACHE_URL``, see :mod:`engine.store.fs`):
    the same signed, verified, quarantined entries, published with ``meta.json`` last.
    Always the directory layout: an object store has no rename to publish one file whole."""

    @property
    def packs(self) -> bool:  # type: ignore[override]  # read-only here: never one file
        return False

    def __init__(self, root: str | os.PathLike[str]):
        super().__init__(root)
        self.files = fs.RemoteFiles(os.fspath(root))

    def path(self, key: str) -> Path:
        raise RunError(f"the shared store {self.location} has no local paths (entry {key})")

    def artifact_path(self, key: str, name: str) -> Path | str:
        return self.files.where(key, name)

    def quarantine_dir(self) -> Path:
        raise RunError(f"the shared store {self.location} has no local quarantine folder")

    def entries(self) -> list[str]:
        return [
            k for k in self.files.children() if not k.startswith(".") and self.files.exists(k, META)
        ]

    def clear(self) -> None:
        self.files.remove_all()

    def committed_at(self, key: str) -> float | None:
        if not self.files.exists(key, META):
            return None
        return self.files.modified(key, META) or None  # None: the store does not say

    def _stamp(self, key: str) -> tuple[int, ...]:
        try:
            self.files.size(key, META)  # FileNotFoundError: no committed entry
        except NotADirectoryError:  # a local cache's one-file entry, on a mount used as the store
            self._quarantine(key, "a one-file entry: a shared store reads entry folders only")
            raise FileNotFoundError(key) from None
        return ()  # objects carry no cheap, portable change stamp: verified on every call

    def _size(self, key: str, name: str) -> int:
        return self.files.size(key, name)

    def _read(self, key: str, name: str) -> bytes:
        return self.files.read(key, name)

    def _digest(self, key: str, name: str) -> str:
        return hashlib.sha256(self._read(key, name)).hexdigest()

    def _staging(self) -> Path | None:
        return None  # the system's temp folder: the entry is uploaded from there

    def _commit(self, key: str, tmp: Path) -> bool:
        if self._trusted_meta(key) is None:  # else an identical entry is already published
            self.files.publish(key, tmp, last=META)
        return False  # the staged copy is the caller's to remove either way

    def _quarantine(self, key: str, reason: str) -> str | None:
        self._verified.pop(key, None)
        dest = f"{QUARANTINE}/{key}.{time.strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:6]}"
        alone = self.files.is_file(key)  # a one-file entry: into a folder, beside the reason
        try:
            moved = self.files.move(key, f"{dest}/{key}" if alone else dest)
        except OSError as exc:
            log.warning("cache entry %s is untrusted (%s); could not move it: %s", key, reason, exc)
            return None
        if not moved:
            return None  # another process moved it first
        self.files.write(f"{reason}\n".encode(), dest, "QUARANTINED")
        where = self.files.where(dest)
        log.warning(
            "cache entry %s is untrusted (%s): moved to %s; it is a cache miss", key, reason, where
        )
        return where


def _packed_parts(f: BinaryIO) -> tuple[bytes, int]:
    """From an open packed entry: its meta's bytes and its value's length (the value starts
    the file). :class:`_Invalid` if the file does not end in a well-formed footer."""
    end = f.seek(0, os.SEEK_END)
    if end < _FOOTER:
        raise _Invalid(f"the entry is {end} bytes, too short to be complete")
    f.seek(end - _FOOTER)
    footer = f.read(_FOOTER)
    meta_len = int.from_bytes(footer[:8], "big")
    if footer[8:] != PACKED_MAGIC or meta_len > end - _FOOTER:
        raise _Invalid("the entry does not end in Sous's footer (torn or not Sous's)")
    value_len = end - _FOOTER - meta_len
    f.seek(value_len)
    return f.read(meta_len), value_len


def commit_marker(path: Path) -> Path | None:
    """The file whose presence makes ``path`` (a child of a cache root) a committed entry:
    the packed entry itself, or a directory entry's ``meta.json``; None for a write in
    progress or left by a crash (dot-named) and for a directory without its meta. Its
    modification time is when the entry was committed."""
    if path.name.startswith("."):
        return None
    if path.is_file():
        return path
    marker = path / META
    return marker if marker.is_file() else None


def remove_path(path: Path) -> None:
    """Remove a file or a directory tree, whichever ``path`` is (gone already: fine): an
    entry of either layout, a staged copy, a quarantined entry, a partial backup copy."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _missing_name(exc: FileNotFoundError) -> str:
    """The file name a FileNotFoundError names (os: ``filename``; fsspec: its argument)."""
    name = exc.filename or (exc.args[-1] if exc.args else None)
    return str(name).rstrip("/").rsplit("/", 1)[-1] if name else "a file"


class _HashingWriter:
    """Writes to a file descriptor, hashing and counting what goes through (one pass)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.size += view.nbytes
        _write_all(self.fd, view)
        return view.nbytes


def _stat_sig(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _canonical(d: Mapping[str, Any]) -> bytes:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str).encode()


def _signed_meta_bytes(meta: EntryMeta) -> bytes:
    """``meta.json``: the canonical JSON of ``meta`` with its HMAC added, encoded once. The
    canonical form is a fixed point of a JSON round trip (tuples are written as lists, keys
    sorted, floats in shortest repr), so what the reader re-encodes after removing ``hmac``
    is byte for byte what was signed here."""
    body = _canonical(_meta_dict(meta))
    return b'{"hmac":"' + signing.sign(body).encode() + b'",' + body[1:]


_META_FIELDS = tuple(f.name for f in fields(EntryMeta))


def _meta_dict(meta: EntryMeta) -> dict[str, Any]:
    """``dataclasses.asdict`` without its deep copy (a tenth of a save's CPU): the fields are
    flat values, a tuple and string-keyed mappings of numbers and strings."""
    d = {name: getattr(meta, name) for name in _META_FIELDS}
    for name in ("artifact_rows", "digests", "sizes"):
        d[name] = dict(d[name])
    return d


def _create(path: str | Path) -> int:
    """A new file (it must not exist), as a bare descriptor: a buffered file object would
    add a stat, a seek and an ioctl per file, and there are two files per node."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def _write_new(path: str | Path, data: bytes) -> None:
    """Create ``path`` holding ``data``: one open, one write, one close."""
    fd = _create(path)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_artifacts(directory: Path, value: Any) -> tuple[tuple[str, ...], dict[str, int]]:
    """Write what ``value.artifacts()`` declares; DataFrames as parquet, str as text."""
    produce = getattr(value, "artifacts", None)
    if not callable(produce):
        return (), {}
    names: list[str] = []
    table_rows: dict[str, int] = {}
    for name, item in produce().items():
        if hasattr(item, "to_parquet"):
            filename = name if name.endswith(".parquet") else f"{name}.parquet"
            buf = io.BytesIO()
            item.to_parquet(buf, index=False)
            data = buf.getvalue()
            table_rows[filename] = len(item)
        elif isinstance(item, bytes):
            filename, data = name, item
        else:
            filename, data = name, str(item).encode()
        at_rest.write_sealed(directory / filename, data)  # plain when encryption is off
        names.append(filename)
    return tuple(names), table_rows


def _rows(value: Any) -> int | None:
    """Row count of a frame, or of a result that carries one (``.frame``)."""
    table = getattr(value, "frame", value)
    shape = getattr(table, "shape", None)
    if isinstance(shape, tuple) and shape and hasattr(table, "columns"):
        return int(shape[0])
    return None
