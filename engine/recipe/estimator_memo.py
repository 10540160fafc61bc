"""Remember model entries that checked clean, so validating a recipe does not import a
known estimator's library again.

Checking a model entry (its ``_target_`` is an estimator class, its params exist and take
their values, its search keys exist, it suits the task) imports the estimator's library:
for scikit-learn over a second of CPU, in the driver, at the start of every run the
validation memo (:mod:`engine.recipe.memo`) does not know, i.e. every changed grid, new
recipe or fresh ``$SOUS_HOME``, while the workers import the same libraries on the other
cores. What the check finds depends on the entry alone and on the installed code, not on
the recipe around it or on the home. So an entry that checked clean is kept per user,
under a key of:

- the entry's kind, ``_target_``, params (with their values) and search keys (not the
  values searched: the estimator does not check those; the trials do), and the task;
- the operator's allowlist (``$SOUS_ALLOW_TARGETS``);
- the validator's code (:func:`engine.recipe.memo.validator_code`) and the Python version;
- the version of the distribution that provides the target's package, and a stamp (size,
  mtime, inode, ctime) of that package's ``__init__`` file: an upgrade or a reinstall is a
  miss.

Editing a module of an installed package in place leaves the stamp as it was: the fit then
reports what the check would have.

Entries are files named by the key in ``estimators/`` (0700) of the user's cache
(:func:`engine.home.user_cache_dir`: ``~/.cache/sous`` by default), each sealed with an
HMAC under the per-user signing key: a file planted there is no memo. Only entries without
problems are kept: one with a problem is checked again, in full, and reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEME = "sous-estimator-check-1"


def entry_key(
    *,
    kind: str,
    target: str,
    task: str | None,
    params: Mapping[str, Any],
    search: Iterable[str],
    allow: Sequence[str],
) -> str | None:
    """The key of one model entry's check, or None when it cannot be made (params that do
    not serialise, a package that cannot be found without importing it): checked in full."""
    from engine.recipe.memo import validator_code

    stamp = _package_stamp(target.split(".", 1)[0])
    if stamp is None:
        return None
    try:
        entry = json.dumps(
            [kind, target, task, dict(params), sorted(search), list(allow)],
            sort_keys=True,
            allow_nan=True,
        )
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(SCHEME.encode())
    for part in (entry, stamp, validator_code(), sys.version):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def _package_stamp(top: str) -> str | None:
    """Version and file stamp of the installed package ``top``. ``find_spec`` of a
    top-level name runs no code of the package."""
    from engine.provenance import library_version
    from engine.provenance_cache import stamp

    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or (file_stamp := stamp(spec.origin)) is None:
        return None
    return f"{top}={library_version(top)}@{file_stamp}"


def _path(key: str) -> Path:
    from engine.home import user_cache_dir

    return user_cache_dir() / "estimators" / key


def known(key: str) -> bool:
    """Whether this entry checked clean before (its file is sealed under our key)."""
    from engine.store.signing import unseal

    try:
        return unseal(_path(key).read_bytes()) == key.encode()
    except Exception:  # absent, foreign, or no signing key to read it with: not known
        return False


def remember(key: str) -> None:
    """Best effort, written to a temp file and renamed: a memo that cannot be kept costs
    only the next check."""
    from engine.home import private_dir
    from engine.security.at_rest import write_atomic
    from engine.store.signing import seal

    path = _path(key)
    with contextlib.suppress(Exception):
        private_dir(path.parent)
        write_atomic(path, seal(key.encode()))
