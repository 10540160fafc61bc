"""Where ``sweep.strategy: optuna`` keeps its studies: one Optuna RDB storage,
``$SOUS_HOME/optuna/studies.db``, one study per run and model, so that ``optuna-dashboard``
(and Optuna's own API) see every search Sous ran.

A study is named ``RECIPE/MODEL/RUN_ID`` and carries the recipe, model, run id and seed as
user attributes. Each run starts its own study: a rerun proposes the same seeded trials and
finds their scores in the cache, so it needs nothing from an earlier study, and a study
never decides anything a run records (the leaderboard comes from the signed cache). The
storage is a plain SQLite file in ``$SOUS_HOME`` with hyperparameters and scores, no data
values; it is owner-only like the runs database. See docs/sweeps.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

STORAGE_FILE = Path("optuna") / "studies.db"
SQLITE_TIMEOUT_S = 60  # parallel runs (a multirun's jobs) share the file: wait, don't fail


def storage_path() -> Path:
    from engine.home import sous_home

    return sous_home() / STORAGE_FILE


def storage_url() -> str:
    """The SQLAlchemy URL of the studies: what ``optuna-dashboard`` takes."""
    return f"sqlite:///{storage_path()}"


def study_name(recipe: str, model: str, run_id: str) -> str:
    return f"{recipe}/{model}/{run_id}"


@dataclass
class RunStudies:
    """The studies of one run, by model: filled as its Optuna searches start."""

    recipe: str
    run_id: str
    url: str
    by_model: dict[str, str] = field(default_factory=dict)

    def name_for(self, model: str) -> str:
        name = study_name(self.recipe, model, self.run_id)
        self.by_model[model] = name
        return name


_CURRENT: ContextVar[RunStudies | None] = ContextVar("sous_run_studies", default=None)


@contextmanager
def for_run(recipe: str, run_id: str) -> Iterator[RunStudies]:
    """While a run drives its plan: Optuna searches store their studies in the home's
    storage under this run's names (outside a run they stay in memory)."""
    studies = RunStudies(recipe, run_id, storage_url())
    token = _CURRENT.set(studies)
    try:
        yield studies
    finally:
        _CURRENT.reset(token)


def current() -> RunStudies | None:
    return _CURRENT.get()


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """The RDB storage at ``url``; a SQLite file in the home is made owner-only."""
    import optuna

    if not url.startswith("sqlite:///"):
        return optuna.storages.RDBStorage(url)
    import fcntl

    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    if not path.exists():
        path.touch(mode=0o600)
    os.chmod(path, 0o600)
    # Opening creates Optuna's tables in a new file: one process at a time (a multirun's
    # jobs start together), or two may both find no table and both create it.
    lock_fd = os.open(path.with_name(path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    with os.fdopen(lock_fd) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return optuna.storages.RDBStorage(
            url, engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
        )
