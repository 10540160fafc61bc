"""The Dask launcher: every job of a Hydra multirun is one task on a Dask cluster.

``launch`` is Hydra's batch interface (all jobs, results in order). ``launch_async`` is ours:
it returns one :class:`concurrent.futures.Future` per job right away, so a sweeper can keep
N jobs in flight and submit the next as soon as any finishes. By default a process
LocalCluster is started (one thread per worker); ``address`` points at a running scheduler.
"""

import concurrent.futures as cf
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from engine.specs import ClusterSpec
from hydra_plugins.sous_dask_launcher._job import JobPayload, execute_job, pack

log = logging.getLogger(__name__)


class DaskLauncher(Launcher):
    def __init__(
        self,
        address: str | None = None,
        n_workers: int = ClusterSpec.workers,
        threads_per_worker: int = ClusterSpec.threads_per_worker,
        memory_limit: str | None = None,
        worker_resources: Any = None,
        resources: Any = None,
        retries: int = 0,
    ) -> None:
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.memory_limit = memory_limit
        self.worker_resources = _plain(worker_resources)
        self.resources = _plain(resources)
        self.retries = retries
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self._client: Any = None
        self._cluster: Any = None
        # Dask cancels a task whose last Future is garbage-collected: hold them until done
        self._pending: set[Any] = set()

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    # ------------------------------------------------------------------ Hydra interface

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Run every job in parallel and return their results in the order given."""
        owned = self._client is None
        try:
            futures = self._submit(job_overrides, initial_job_idx)
            results: list[JobReturn] = self._client.gather(futures)
        finally:
            if owned:
                self.close()
        self._restore_logging()
        return results

    # ------------------------------------------------------------------ ours

    def launch_async(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> list["cf.Future[JobReturn]"]:
        """Submit the jobs and return at once: one future per job, resolved as each finishes.

        The cluster stays up between calls; call :meth:`close` when the sweep is over.
        """
        futures = self._submit(job_overrides, initial_job_idx, announce=logging.DEBUG)
        return [_bridge(f, self._pending) for f in futures]

    def close(self) -> None:
        """Close the client, and the LocalCluster if this launcher started it."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    # ------------------------------------------------------------------ internals

    def _submit(
        self,
        job_overrides: Sequence[Sequence[str]],
        initial_job_idx: int,
        announce: int = logging.INFO,
    ) -> list[Any]:
        if self.config is None or self.hydra_context is None or self.task_function is None:
            raise RuntimeError("DaskLauncher.launch called before setup()")
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        client = self._connect()
        log.log(
            announce,
            f"Dask launcher: {len(job_overrides)} job(s) on {self._where()}; sweep dir: {sweep_dir}",
        )
        payload = JobPayload(
            self.hydra_context, self.config, self.task_function, Singleton.get_state(), os.getcwd()
        )
        # inline, not scattered: a scattered payload pins jobs to the worker holding it
        packed = pack(payload)
        futures = []
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            futures.append(
                client.submit(
                    execute_job,
                    packed,
                    idx,
                    list(overrides),
                    key=f"hydra-job-{idx}-{os.urandom(4).hex()}",
                    pure=False,
                    resources=self.resources or None,
                    retries=self.retries or None,
                )
            )
        return futures

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        from distributed import Client

        from engine.execution.cluster import local_cluster
        from engine.specs import frozen_map

        _quiet_dask()
        if self.address:
            from engine.security.schedulers import ensure_allowed

            ensure_allowed(self.address, "hydra.launcher.address")  # at connection time too
            self._client = Client(self.address)
            return self._client
        spec = ClusterSpec(
            workers=self.n_workers,
            threads_per_worker=self.threads_per_worker,
            memory_limit=self.memory_limit,
            resources=frozen_map(dict(self.worker_resources or {})),
        )
        # the same factory as a run's cluster; jobs are whole runs, so no warm fork server
        self._cluster = local_cluster(
            spec, warm=False, dashboard=False, silence_logs=logging.WARNING
        )
        self._client = Client(self._cluster)
        return self._client

    def _where(self) -> str:
        if self.address:
            return f"scheduler {self.address}"
        return f"a LocalCluster of {self.n_workers} worker process(es) x {self.threads_per_worker} thread(s)"

    def _restore_logging(self) -> None:
        if self.config is not None:
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)


def _quiet_dask() -> None:
    """Hydra's logging config sets the root logger to INFO, which makes the in-process
    scheduler narrate every connection: keep Dask at WARNING (``hydra.verbose=distributed``
    turns it back on)."""
    for name in ("distributed", "tornado"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING and not logger.isEnabledFor(logging.DEBUG):
            logger.setLevel(logging.WARNING)


def _plain(value: Any) -> dict[str, float]:
    """Resource mappings arrive as DictConfig from Hydra; Dask wants a plain dict."""
    if value is None:
        return {}
    if isinstance(value, DictConfig):
        value = OmegaConf.to_container(value, resolve=True)
    return {str(k): float(v) for k, v in dict(value).items()}


def _bridge(future: Any, pending: set[Any]) -> "cf.Future[JobReturn]":
    """A stdlib future that resolves when the Dask future does (no Dask types leak out)."""
    out: cf.Future[JobReturn] = cf.Future()
    out.set_running_or_notify_cancel()
    pending.add(future)

    def transfer(done: Any) -> None:
        try:
            out.set_result(done.result())
        except BaseException as exc:  # the job's own error, re-raised by out.result()
            out.set_exception(exc)
        finally:
            pending.discard(done)

    future.add_done_callback(transfer)
    return out
