"""Config of the Dask launcher (``hydra/launcher=dask``).

No ``from __future__ import annotations`` here: OmegaConf reads these annotations at runtime.
Hydra discovers plugins by importing every module under ``hydra_plugins``; storing the node
in the ConfigStore on import is how Hydra wants its plugins to register their configs.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from engine.specs import ClusterSpec


@dataclass
class DaskLauncherConf:
    _target_: str = "hydra_plugins.sous_dask_launcher.dask_launcher.DaskLauncher"
    # tcp://host:8786 of a running scheduler; null starts a process LocalCluster per sweep
    address: str | None = None
    # LocalCluster only: worker processes and threads per worker (1: jobs never share a GIL)
    n_workers: int = ClusterSpec.workers  # each default is written once, in engine.specs
    threads_per_worker: int = ClusterSpec.threads_per_worker
    memory_limit: str | None = None
    # resources the LocalCluster workers advertise, e.g. {GPU: 1}
    worker_resources: dict[str, float] | None = field(default_factory=dict)
    # resources each job needs; jobs only run on workers that advertise them
    resources: dict[str, float] | None = field(default_factory=dict)
    # rerun a job whose worker died this many times
    retries: int = 0


ConfigStore.instance().store(
    group="hydra/launcher", name="dask", node=DaskLauncherConf, provider="sous"
)
