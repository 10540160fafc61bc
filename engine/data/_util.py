"""Small helpers shared by the data modules: did-you-mean hints and path expansion."""

from __future__ import annotations

import difflib
import glob
import os
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean 'x'?"`` for the closest choice, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def choices_hint(word: str, choices: Iterable[str]) -> str:
    """A fix hint: the closest choice when there is one, else the full list."""
    options = sorted(choices)
    near = did_you_mean(word, options)
    listed = "one of " + ", ".join(repr(c) for c in options) if options else "nothing known"
    return f"{near} (expected {listed})" if near else f"use {listed}"


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
