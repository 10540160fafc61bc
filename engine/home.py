"""Where Sous keeps its state: ``$SOUS_HOME`` (default ``./.sous``).

Layout: ``cache/`` (node outputs by key, signed; ``cache/.quarantine/`` holds entries that
failed verification), ``runs.db`` (SQLite runs database and registry unless ``SOUS_DB_URL``
names another SQLAlchemy URL), ``validated/`` (sealed validation memo), ``composed/``
(sealed compositions), ``reports/`` (sealed run report pages, reused by reruns),
``runs/<run_id>/`` (logs, reports), ``bentoml/`` (BentoML's own store: models and Bentos).

Nothing here is trusted until verified: the key that signs it lives outside, see
:mod:`engine.store.signing` and docs/store.md.
"""

from __future__ import annotations

import os
from pathlib import Path


def sous_home() -> Path:
    """The state directory, absolute, created on first use."""
    home = Path(os.environ.get("SOUS_HOME", ".sous")).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir() -> Path:
    return sous_home() / "cache"


def runs_dir() -> Path:
    return sous_home() / "runs"


def db_url() -> str:
    """The runs database: ``SOUS_DB_URL`` or a SQLite file in ``$SOUS_HOME``."""
    return os.environ.get("SOUS_DB_URL") or f"sqlite:///{sous_home() / 'runs.db'}"


def user_cache_dir() -> Path:
    """Per-user facts about the installed environment, not about any ``$SOUS_HOME`` (code
    fingerprints, estimator checks): ``$SOUS_USER_CACHE``, else ``$XDG_CACHE_HOME/sous``,
    else ``~/.cache/sous``. Not created here."""
    explicit = os.environ.get("SOUS_USER_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "sous"


def bentoml_home() -> Path:
    """BentoML's store lives under ours so that one ``$SOUS_HOME`` holds all state."""
    return sous_home() / "bentoml"


def private_dir(directory: Path) -> None:
    """``directory`` and the parents it creates, mode 0700; an existing one is tightened.
    For what holds request values or labels (request logs, feedback)."""
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    for m in reversed(missing):
        m.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
