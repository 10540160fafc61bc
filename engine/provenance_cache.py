"""Code fingerprints remembered on disk, so an unchanged rerun does not parse the engine again.

Computing a step's fingerprint parses every engine module it reaches (and resolving their
imports can import scikit-learn): most of a second per process. The answer depends only on
those source files, so it is kept with a stamp of each one (path, size, mtime_ns, inode,
ctime_ns) and of the directories that hold them (a module added or removed there can change
what an import resolves to), under the Python version and :data:`SCHEME`. Any stamp that
differs is a miss, and a restored mtime cannot hide an edit (the inode's ctime moves).

The entries live in a private (0700) directory of the user's cache, ``$SOUS_CODE_CACHE`` or
``$XDG_CACHE_HOME/sous/code`` (default ``~/.cache/sous/code``), each sealed with an HMAC
under the signing key (:mod:`engine.store.signing`): whoever can write that directory but
does not hold the key cannot make an edited file reuse a stale fingerprint; an entry that
fails the check, or any error, is a miss and the fingerprint is computed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEME = "sous-code-cache-1"
DIR_ENV = "SOUS_CODE_CACHE"
OFF_ENV = "SOUS_NO_CODE_CACHE"

Stamp = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class Remembered:
    """A fingerprint and the deciding libraries of one step function (or module)."""

    fingerprint: str
    libraries: frozenset[str]


def cache_root() -> Path:
    """The directory of the entries (whether or not it exists yet)."""
    from engine.home import user_cache_dir

    explicit = os.environ.get(DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return user_cache_dir() / "code"


def stamp(path: str) -> Stamp | None:
    """(path, size, mtime_ns, inode, ctime_ns), or None when the path is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def stamps(paths: Iterable[str]) -> list[Stamp] | None:
    """Stamps of ``paths`` and of their directories, sorted; None if one is missing."""
    unique = set(paths)
    unique |= {os.path.dirname(p) for p in unique}
    out = [stamp(p) for p in sorted(unique)]
    return None if any(s is None for s in out) else [s for s in out if s is not None]


def _identity(name: str, anchor: str) -> str:
    """What an entry answers for: the function (or module) name, the file it lives in, the
    interpreter and the scheme."""
    return json.dumps([SCHEME, sys.version, name, anchor])


def _path(identity: str) -> Path:
    return cache_root() / (hashlib.sha256(identity.encode()).hexdigest()[:32] + ".json")


def recall(name: str, anchor: str) -> Remembered | None:
    """The remembered answer for ``name`` (defined in file ``anchor``), if every file it was
    computed from is unchanged and the entry is sealed under the signing key."""
    if os.environ.get(OFF_ENV):
        return None
    identity = _identity(name, anchor)
    try:
        blob = _path(identity).read_bytes()
        from engine.store.signing import unseal

        payload = unseal(blob)
        if payload is None:
            return None
        entry = json.loads(payload)
        if entry["identity"] != identity:
            return None
        if any(tuple(s) != stamp(s[0]) for s in entry["stamps"]):
            return None
        return Remembered(str(entry["fingerprint"]), frozenset(entry["libraries"]))
    except Exception:  # absent, unreadable, foreign or malformed: compute it again
        return None


def remember(name: str, anchor: str, answer: Remembered, files: Iterable[str]) -> None:
    """Keep ``answer`` with the stamps of ``files`` (best effort: a failure only costs the
    next process the computation)."""
    if os.environ.get(OFF_ENV):
        return
    with contextlib.suppress(Exception):
        taken = stamps(files)
        if taken is None:
            return
        identity = _identity(name, anchor)
        entry = {
            "identity": identity,
            "fingerprint": answer.fingerprint,
            "libraries": sorted(answer.libraries),
            "stamps": taken,
        }
        from engine.home import private_dir
        from engine.store.signing import seal

        root = cache_root()
        private_dir(root)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(seal(json.dumps(entry).encode()))
            os.replace(tmp, _path(identity))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
