"""Executors run compiled tasks: a synchronous reference one, and Dask (local or remote).

Both run the same ``execute_node`` and return the same values: tests run a plan on either and
compare. The Dask executor submits one future per task with the node's key as the Dask key, so
identical work submitted by concurrent jobs (a sweep, a multirun) runs once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from engine.compile import Compiled, Task, execute_node, load_node
from engine.errors import RunError, SousError, UserError
from engine.specs import ClusterSpec

OnDone = Callable[[Task], None]


class SyncExecutor:
    """In-process, one task at a time, in topological order: the reference implementation."""

    name = "sync"
    dashboard: str | None = None

    def __enter__(self) -> SyncExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, compiled: Compiled, cache_root: str, on_done: OnDone) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for task in compiled.tasks:
            if task.mode == "load":
                values[task.key] = load_node(task.node, cache_root)
            else:
                deps = [values[d] for d in task.deps]
                values[task.key] = _run_step(task, cache_root, deps)
            on_done(task)
        return {k: values[k] for k in compiled.targets if k in values}


def _run_step(task: Task, cache_root: str, deps: list[Any]) -> Any:
    try:
        return execute_node(task.node, cache_root, *deps)
    except SousError:
        raise
    except Exception as exc:
        raise RunError(
            f"step {task.node.step} failed: {type(exc).__name__}: {exc}", step=task.node.step
        ) from exc


class DaskExecutor:
    """Tasks as Dask futures on a process LocalCluster (default) or a remote scheduler.

    Inside a Dask worker (a multirun job) it uses that worker's client, so nested graphs go to
    the same scheduler and identical keys across jobs merge.
    """

    name = "dask"

    def __init__(self, spec: ClusterSpec):
        self.spec = spec
        self.client: Any = None
        self.dashboard: str | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> DaskExecutor:
        self.client = self._stack.enter_context(self._connect())
        with contextlib.suppress(Exception):
            self.dashboard = self.client.dashboard_link
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        from distributed import Client, LocalCluster, get_worker, worker_client

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
            yield from _remote_client(Client, self.spec)
            return
        with (
            LocalCluster(
                n_workers=self.spec.workers,
                threads_per_worker=self.spec.threads_per_worker,
                processes=True,
                memory_limit=self.spec.memory_limit or "auto",
                resources=dict(self.spec.resources) or None,
                dashboard_address="127.0.0.1:0",
                host="127.0.0.1",
                silence_logs=40,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client

    def run(self, compiled: Compiled, cache_root: str, on_done: OnDone) -> dict[str, Any]:
        from distributed import as_completed

        self._check_resources(compiled)
        futures: dict[str, Any] = {}
        by_future: dict[str, Task] = {}
        for task in compiled.tasks:
            if task.mode == "load":
                fut = self.client.submit(load_node, task.node, cache_root, key=task.key)
            else:
                deps = [futures[d] for d in task.deps]
                fut = self.client.submit(
                    execute_node,
                    task.node,
                    cache_root,
                    *deps,
                    key=task.key,
                    resources=dict(task.node.resources) or None,
                )
            futures[task.key] = fut
            by_future[fut.key] = task
        try:
            for fut in as_completed(list(futures.values())):
                task = by_future[fut.key]
                if fut.status == "error":
                    _raise_step_error(task, fut)
                on_done(task)
            targets = [k for k in compiled.targets if k in futures]
            values = self.client.gather([futures[k] for k in targets])
            return dict(zip(targets, values, strict=True))
        finally:
            for fut in futures.values():
                fut.release()

    def _check_resources(self, compiled: Compiled) -> None:
        """A task asking for resources no worker has would wait forever: fail now instead."""
        wanted = {(k, v) for t in compiled.to_compute for k, v in t.node.resources.items()}
        if not wanted:
            return
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {}).values()
        offered = [w.get("resources", {}) for w in workers]
        for name, amount in sorted(wanted):
            if not any(res.get(name, 0) >= amount for res in offered):
                step = next(t.node.step for t in compiled.to_compute if name in t.node.resources)
                raise UserError(
                    f"step {step} needs resource {name}={amount}, but no worker of the cluster offers it",
                    key_path="models.<name>.resources",
                    hint=f"start workers with `dask worker ... --resources {name}={amount}`, "
                    f"or set cluster.resources, or remove the model's resources",
                )


def _remote_client(client_cls: Any, spec: ClusterSpec) -> Iterator[Any]:
    if not spec.address:
        raise UserError(
            "cluster.kind is remote but cluster.address is not set",
            key_path="cluster.address",
            hint="pass cluster.address=tcp://HOST:8786 (the address `dask scheduler` prints)",
        )
    try:
        client = client_cls(spec.address, timeout="10s")
    except OSError as exc:
        raise UserError(
            f"cannot reach the Dask scheduler at {spec.address}: {exc}",
            key_path="cluster.address",
            hint="start it with `dask scheduler` (see cluster/README.md) or fix the address",
        ) from exc
    with client:
        yield client


def _raise_step_error(task: Task, fut: Any) -> None:
    exc = fut.exception()
    if isinstance(exc, SousError):
        raise exc
    raise RunError(
        f"step {task.node.step} failed: {type(exc).__name__}: {exc}", step=task.node.step
    ) from exc


def make_executor(spec: ClusterSpec, override: str | None = None) -> SyncExecutor | DaskExecutor:
    kind = override or spec.kind
    if kind == "sync":
        return SyncExecutor()
    if kind in ("local", "remote"):
        return DaskExecutor(dataclasses.replace(spec, kind=kind))
    raise UserError(
        f"unknown executor {kind!r}",
        key_path="cluster.kind",
        hint="use one of: sync, local, remote",
    )
