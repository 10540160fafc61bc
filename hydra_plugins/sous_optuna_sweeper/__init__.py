"""Hydra sweeper on current optuna that keeps ``n_jobs`` trials in flight.

Select it with ``hydra/sweeper=optuna``; see ``docs/sweeps.md``.
"""

from hydra_plugins.sous_optuna_sweeper.optuna_sweeper import OptunaSweeper

__all__ = ["OptunaSweeper"]
