"""What runs inside a Dask worker: one Hydra job.

The driver cloudpickles everything the job needs (Hydra context, the multirun config, the
task function, Hydra's singleton state with the custom OmegaConf resolvers) once per launch;
the worker restores it and calls Hydra's own ``run_job``, so output dirs, logging, callbacks
and ``HydraConfig`` behave exactly as with Hydra's basic launcher.
"""

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict


@dataclass(frozen=True)
class JobPayload:
    """The parts of a launch shared by all its jobs."""

    hydra_context: HydraContext
    config: DictConfig
    task_function: TaskFunction
    singleton_state: dict[Any, Any]
    cwd: str  # the driver's working dir: relative sweep dirs resolve the same on every worker


def pack(payload: JobPayload) -> bytes:
    """Cloudpickle by value: task functions defined in ``__main__`` or in closures travel too."""
    return bytes(cloudpickle.dumps(payload))


@contextmanager
def _in_dir(path: str) -> Iterator[None]:
    old = os.getcwd()
    if os.path.isdir(path):
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def execute_job(packed: bytes, idx: int, overrides: Sequence[str]) -> JobReturn:
    """Compose job ``idx``'s config from the multirun config plus its overrides and run it."""
    payload: JobPayload = cloudpickle.loads(packed)
    setup_globals()
    Singleton.set_state(payload.singleton_state)
    with _in_dir(payload.cwd):
        sweep_config = payload.hydra_context.config_loader.load_sweep_config(
            payload.config, list(overrides)
        )
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        HydraConfig.instance().set_config(sweep_config)
        return run_job(
            hydra_context=payload.hydra_context,
            task_function=payload.task_function,
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
