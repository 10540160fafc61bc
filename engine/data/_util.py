"""Small helpers shared by the data modules: path expansion. (Did-you-mean hints live in
:mod:`engine.errors`, where every layer can reach them.)"""

from __future__ import annotations

import glob
import hashlib
import os


def expand_paths(path: str) -> list[str]:
    """Files named by ``path``: one file, a glob (sorted), or every file under a directory."""
    if any(ch in path for ch in "*?["):
        return sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
    if os.path.isdir(path):
        found = []
        for root, _dirs, files in os.walk(path):
            found += [os.path.join(root, f) for f in files if not f.startswith((".", "_"))]
        return sorted(found)
    return [path] if os.path.exists(path) else []


def sha_parts(*parts: str) -> str:
    """SHA-256 of ``parts``, each followed by a NUL (so ("ab", "c") differs from ("a", "bc"))."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()
