"""Executors: where a run's tasks go. ``SyncExecutor`` is in-process (the reference);
``DaskExecutor`` is a process LocalCluster (default) or a remote scheduler. Both are context
managers satisfying :class:`Executor` and hand out a :class:`~engine.execution.sessions.Session`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from engine.errors import UserError
from engine.execution.cluster import (
    ClusterStarter,
    dashboard_wanted,
    local_cluster,
    remote_client,
)
from engine.execution.compile import Compiled, Task
from engine.execution.sessions import DaskSession, OnDone, Session, SyncSession, run_compiled
from engine.specs import ClusterSpec


class Executor(Protocol):
    """Used as a context manager: entering connects (starts a local cluster if needed),
    leaving disconnects; ``wait_stopped`` joins a cluster stopping in the background."""

    name: str
    dashboard: str | None

    @property
    def slots(self) -> int: ...
    def __enter__(self) -> Executor: ...
    def __exit__(self, *exc: object) -> None: ...
    def wait_stopped(self) -> None: ...
    def session(self, cache_root: str) -> Session: ...


class SyncExecutor:
    """In-process, one task at a time, in topological order: the reference implementation."""

    name = "sync"
    dashboard: str | None = None
    slots = 1

    def __enter__(self) -> SyncExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait_stopped(self) -> None:
        return None

    def session(self, cache_root: str) -> SyncSession:
        return SyncSession(cache_root)

    def run(self, compiled: Compiled, cache_root: str, on_done: OnDone) -> dict[str, Any]:
        return run_compiled(self.session(cache_root), compiled, on_done)


class DaskExecutor:
    """Tasks as Dask futures on a process LocalCluster (default) or a remote scheduler.

    Inside a Dask worker (a multirun job) it uses that worker's client, so nested graphs go to
    the same scheduler and identical keys across jobs merge.
    """

    name = "dask"

    def __init__(
        self,
        spec: ClusterSpec,
        starter: ClusterStarter | None = None,
        *,
        stop_in_background: bool = False,
    ):
        self.spec = spec
        self.starter = starter
        self.client: Any = None
        self.dashboard: str | None = None
        self._stack = contextlib.ExitStack()
        self._cluster: Any = None
        self._background = stop_in_background
        self._stopping: threading.Thread | None = None

    def __enter__(self) -> DaskExecutor:
        self.client = self._stack.enter_context(self._connect())
        # Dask makes up a link whether or not a dashboard is served: ours says (local only)
        if self._cluster is None or dashboard_wanted(self.spec.dashboard):
            with contextlib.suppress(Exception):
                self.dashboard = self.client.dashboard_link
        return self

    def __exit__(self, *exc: object) -> None:
        """Disconnect now (the client is bound to this thread) and stop a local cluster; with
        ``stop_in_background`` the cluster stops in a thread (:meth:`wait_stopped` joins it),
        so that the run's bookkeeping does not wait for its workers to shut down."""
        self._stack.close()
        if not self._background:
            self._close_cluster()
            return
        self._stopping = threading.Thread(target=self._close_cluster, name="sous-cluster-stop")
        self._stopping.start()

    def wait_stopped(self) -> None:
        if self._stopping is not None:
            self._stopping.join()
            self._stopping = None

    def _close_cluster(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        from distributed import Client, get_worker, worker_client

        try:
            get_worker()
            in_worker = True
        except ValueError:
            in_worker = False
        if in_worker:
            with worker_client() as client:
                yield client
            return
        if self.spec.kind == "remote":
            yield from remote_client(Client, self.spec)
            return
        cluster = self.starter.take(self.spec) if self.starter else None
        self._cluster = cluster or local_cluster(self.spec)
        with Client(self._cluster) as client:
            yield client

    @property
    def slots(self) -> int:
        """How many tasks can run at once (worker threads in the cluster)."""
        info = self.client.scheduler_info(n_workers=-1).get("workers", {}).values()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info))

    def session(self, cache_root: str) -> DaskSession:
        slots = (lambda: self.slots) if self.spec.pack else None
        return DaskSession(self.client, cache_root, self._check_resources, slots)

    def run(self, compiled: Compiled, cache_root: str, on_done: OnDone) -> dict[str, Any]:
        return run_compiled(self.session(cache_root), compiled, on_done)

    def _check_resources(self, tasks: Iterable[Task]) -> None:
        """A task asking for resources no worker has would wait forever: fail now instead."""
        tasks = [t for t in tasks if t.mode == "compute"]
        wanted = {(k, v) for t in tasks for k, v in t.node.resources.items()}
        if not wanted:
            return
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {}).values()
        offered = [w.get("resources", {}) for w in workers]
        for name, amount in sorted(wanted):
            if not any(res.get(name, 0) >= amount for res in offered):
                step = next(t.node.step for t in tasks if name in t.node.resources)
                raise UserError(
                    f"step {step} needs resource {name}={amount}, but no worker of the cluster offers it",
                    key_path="models.<name>.resources",
                    hint=f"start workers with `dask worker ... --resources {name}={amount}`, "
                    f"or set cluster.resources, or remove the model's resources",
                )


def make_executor(
    spec: ClusterSpec,
    override: str | None = None,
    starter: ClusterStarter | None = None,
    *,
    stop_in_background: bool = False,
) -> Executor:
    kind = override or spec.kind
    if kind == "sync":
        return SyncExecutor()
    if kind in ("local", "remote"):
        spec = dataclasses.replace(spec, kind=kind)
        return DaskExecutor(spec, starter, stop_in_background=stop_in_background)
    raise UserError(
        f"unknown executor {kind!r}",
        key_path="cluster.kind",
        hint="use one of: sync, local, remote",
    )
