"""Data fingerprints for cache keys: content, never timestamps.

Files: size + a chunked SHA-256 of the content, so touching a file invalidates nothing and
any content change invalidates everything downstream. Hashing is memoised on
``(path, size, mtime_ns, ctime_ns, inode)`` in ``$SOUS_HOME/fingerprints.json``: an unchanged
file is never re-read; a touched file (or one edited with its mtime restored, which still
moves its ctime) is re-read once and gets the fingerprint of its content.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.data._util import expand_paths, sha_parts

CHUNK = 1 << 20
MEMO_FILE = "fingerprints.json"
MEMO_MAX_ENTRIES = 20_000


_sha = sha_parts


def content_hash(path: str) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (bounded memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _Memo:
    """The on-disk memo of content hashes; losing it costs time, never correctness."""

    def __init__(self) -> None:
        from engine.home import sous_home

        self.path = sous_home() / MEMO_FILE
        self.entries: dict[str, str] = self._load(self.path)
        self.dirty = False

    @staticmethod
    def _load(path: Path) -> dict[str, str]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def hash_of(self, path: str) -> str:
        st = os.stat(path)
        # ctime and inode too: an edit that restores the mtime (`touch -r`, rsync -t, a
        # checkout) still changes ctime, and a file replaced by rename has a new inode
        key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"
        if key not in self.entries:
            self.entries[key] = content_hash(path)
            self.dirty = True
        return self.entries[key]

    def save(self) -> None:
        """Atomic write (temp file + rename) so concurrent workers never see half a file."""
        if not self.dirty:
            return
        items = list(self.entries.items())[-MEMO_MAX_ENTRIES:]
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".fingerprints-")
        with os.fdopen(fd, "w") as fh:
            json.dump(dict(items), fh)
        os.replace(tmp, self.path)


def files_fingerprint(options: Mapping[str, Any]) -> str:
    """Fingerprint of the files under ``options['path']`` (file, glob or directory):
    relative names (partition values live there), sizes and content hashes."""
    files = expand_paths(str(options["path"]))
    if not files:
        raise FileNotFoundError(f"no file matches {options['path']!r}")
    base = os.path.dirname(files[0]) if len(files) == 1 else os.path.commonpath(files)
    memo = _Memo()
    parts = []
    for f in files:
        parts.append(f"{os.path.relpath(f, base)}:{os.path.getsize(f)}:{memo.hash_of(f)}")
    memo.save()
    return _sha("files", *parts)


def kind_fingerprint(kind: str, inner: str) -> str:
    """A source's fingerprint from its kind and its kind's own fingerprint (what
    :func:`fingerprint_source` returns), for readers that fingerprint while they read."""
    return _sha(kind, inner)


def sklearn_fingerprint(options: Mapping[str, Any]) -> str:
    """Bundled data sets change only with the scikit-learn release (read from the
    installed distribution: importing scikit-learn would cost `sous plan` most of a second)."""
    from importlib.metadata import version

    return _sha("sklearn", str(options["name"]), version("scikit-learn"))


def options_fingerprint(options: Mapping[str, Any]) -> str:
    """Fallback for user sources without a fingerprint function: the options, plus the
    files' fingerprint when a ``path`` is given. Without a path, data changes behind the
    source are invisible: give such a source a fingerprint function."""
    from engine.specs import thaw

    text = json.dumps(thaw(options), sort_keys=True, default=str)
    if options.get("path"):
        return _sha("options", text, files_fingerprint(options))
    return _sha("options", text)
