"""The artifact store's files on any fsspec filesystem: a shared mount, ``file://``, or an
object store (``s3://bucket/prefix`` through s3fs, ``gs://``, ``az://``...), so that a
team's workers and laptops share one cache (:class:`engine.store.cache.SharedArtifactCache`).

Where the store is: ``$SOUS_CACHE_URL`` if set, else ``$SOUS_HOME/cache`` (see
:func:`cache_location`). It is an environment setting, not a recipe key, on purpose: cache
keys are content hashes, identical on every machine, so where the artifacts live is a
property of the deployment (like ``SOUS_DB_URL``), and a recipe checked into a repository
never names a team's bucket. Credentials come from the filesystem's own configuration
(for S3: the usual AWS variables or files; ``FSSPEC_S3_ENDPOINT_URL`` for another
endpoint), never from Sous.

Object stores have no rename, so an entry is published file by file with ``meta.json``
last: the marker that makes it complete. Until it lands, readers see a miss. Two writers of
one key write the same content; if they ever did not, the digests in the signed meta would
not match the value, and the entry would be a miss (quarantined and recomputed), never a
wrong value. On a filesystem with rename (fsspec's local one, for a shared mount), each
file is written under a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

URL_ENV = "SOUS_CACHE_URL"


def is_url(root: str | os.PathLike[str]) -> bool:
    """True for ``scheme://...`` (handled by fsspec); a plain path is the local store."""
    return "://" in os.fspath(root)


def cache_location() -> str:
    """Where the artifact store is: ``$SOUS_CACHE_URL`` (a URL or a path), else
    ``$SOUS_HOME/cache``."""
    from engine.home import cache_dir

    return os.environ.get(URL_ENV, "").strip() or str(cache_dir())


class RemoteFiles:
    """The few file operations the cache needs, on one fsspec filesystem under one prefix."""

    def __init__(self, url: str):
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        self.url = url.rstrip("/")
        # listings are never cached: other machines write entries while this one runs
        fs, base = fsspec.core.url_to_fs(self.url, use_listings_cache=False)
        self.fs: Any = fs
        self.base = str(base).rstrip("/")
        self.renames = isinstance(fs, LocalFileSystem)  # object stores have no rename

    def path(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def where(self, *parts: str) -> str:
        """A location to show people (the URL they configured, plus the parts)."""
        return "/".join([self.url, *parts])

    def read(self, *parts: str) -> bytes:
        return bytes(self.fs.cat_file(self.path(*parts)))

    def size(self, *parts: str) -> int:
        """Bytes of one file; FileNotFoundError if it is not there."""
        return int(self.fs.info(self.path(*parts))["size"])

    def du(self, *parts: str) -> int:
        """Bytes of every file under a path (0 if there is none)."""
        try:
            return int(self.fs.du(self.path(*parts), total=True))
        except FileNotFoundError:
            return 0

    def modified(self, *parts: str) -> float:
        """When a file was last written (epoch seconds); 0.0 if the store does not say."""
        try:
            return float(self.fs.modified(self.path(*parts)).timestamp())
        except (NotImplementedError, OSError, AttributeError):
            return 0.0

    def newest(self, *parts: str) -> float:
        """When a file under a path (or the file there) was last written; 0.0 if the store
        does not say or nothing is there."""
        newest = 0.0
        try:
            for found in self.fs.find(self.path(*parts)):
                newest = max(newest, float(self.fs.modified(found).timestamp()))
        except (NotImplementedError, OSError, AttributeError):
            return 0.0
        return newest

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.exists(self.path(*parts)))

    def write(self, data: bytes, *parts: str) -> None:
        dest = self.path(*parts)
        if not self.renames:
            self.fs.pipe_file(dest, data)  # one PUT: atomic on object stores
            return
        self.fs.makedirs(self.fs._parent(dest), exist_ok=True)
        tmp = f"{dest}.tmp-{uuid.uuid4().hex[:8]}"
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, dest)

    def upload(self, src: Path, *parts: str) -> None:
        dest = self.path(*parts)
        if not self.renames:
            self.fs.put_file(str(src), dest)
            return
        self.fs.makedirs(self.fs._parent(dest), exist_ok=True)
        tmp = f"{dest}.tmp-{uuid.uuid4().hex[:8]}"
        self.fs.put_file(str(src), tmp)
        self.fs.mv(tmp, dest)

    def publish(self, key: str, staged: Path, last: str) -> None:
        """Upload every file of ``staged`` under ``key``, ``last`` (the commit marker) last."""
        names = sorted(p.name for p in staged.iterdir() if p.name != last)
        for name in [*names, last]:
            self.upload(staged / name, key, name)

    def is_file(self, *parts: str) -> bool:
        return bool(self.fs.isfile(self.path(*parts)))

    def move(self, src: str, dest: str) -> bool:
        """Move an entry (a directory, or a file) aside; False if it was already gone."""
        if not self.fs.exists(self.path(src)):
            return False
        try:
            self.fs.makedirs(self.fs._parent(self.path(dest)), exist_ok=True)
            self.fs.mv(self.path(src), self.path(dest), recursive=True)
        except FileNotFoundError:
            return False
        return True

    def children(self) -> list[str]:
        """Names directly under the prefix."""
        try:
            listing = self.fs.ls(self.base, detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(p).rstrip("/").rsplit("/", 1)[-1] for p in listing)

    def remove_all(self) -> None:
        if self.fs.exists(self.base):
            self.fs.rm(self.base, recursive=True)
