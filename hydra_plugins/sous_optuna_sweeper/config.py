"""Config of the optuna sweeper (``hydra/sweeper=optuna``).

No ``from __future__ import annotations`` here: OmegaConf reads these annotations at runtime.
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.sous_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    # minimize | maximize the value the task function returns
    direction: str = "minimize"
    # trial budget, and an optional time budget: no new trial starts after timeout_s
    n_trials: int = 20
    timeout_s: float | None = None
    # trials in flight at once; a new one starts as soon as any finishes
    n_jobs: int = 2
    # seeds the TPE sampler
    seed: int | None = None
    # when the task returns a mapping, the key of the value to optimize
    metric: str | None = None
    # search space in Hydra's sweep syntax, e.g. {lr: "tag(log, interval(1e-4, 1e-1))"}
    params: dict[str, str] | None = None


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="sous"
)
