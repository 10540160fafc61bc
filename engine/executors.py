"""Executors run compiled tasks: a synchronous reference one, and Dask (local or remote).

Both run the same ``execute_node`` and return the same values: tests run a plan on either and
compare. The Dask executor submits one future per task with the node's key as the Dask key, so
identical work submitted by concurrent jobs (a sweep, a multirun) runs once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from engine.compile import (
    Compiled,
    Task,
    execute_chain,
    execute_node,
    linear_chains,
    load_node,
    worker_env,
)
from engine.errors import RunError, SousError, UserError
from engine.plan import Node
from engine.specs import ClusterSpec

OnDone = Callable[[Task], None]


class Session(Protocol):
    """Incremental execution: submit tasks any time, take finished ones as they come."""

    def known(self, key: str) -> bool: ...
    def submit(self, tasks: Iterable[Task]) -> None: ...
    def has_pending(self) -> bool: ...
    def next_done(self) -> Task: ...
    def cancel(self, keys: Iterable[str]) -> None: ...
    def forget(self, key: str) -> None: ...
    def value(self, key: str) -> Any: ...
    def close(self) -> None: ...


class SyncSession:
    """Runs submitted tasks one at a time, in submission order, in this process."""

    def __init__(self, cache_root: str):
        self.cache_root = cache_root
        self.values: dict[str, Any] = {}
        self.queue: deque[Task] = deque()
        self.submitted: set[str] = set()

    def known(self, key: str) -> bool:
        return key in self.submitted

    def submit(self, tasks: Iterable[Task]) -> None:
        for task in tasks:
            if task.key not in self.submitted:
                self.submitted.add(task.key)
                self.queue.append(task)

    def has_pending(self) -> bool:
        return bool(self.queue)

    def next_done(self) -> Task:
        task = self.queue.popleft()
        if task.mode == "load":
            self.values[task.key] = load_node(task.node, self.cache_root)
        else:
            deps = [self.values[d] for d in task.deps]
            self.values[task.key] = _run_step(task, self.cache_root, deps)
        return task

    def cancel(self, keys: Iterable[str]) -> None:
        drop = set(keys)
        self.queue = deque(t for t in self.queue if t.key not in drop)
        self.submitted -= drop

    def forget(self, key: str) -> None:
        """Let a finished task's value go; later readers load it from the cache."""
        self.values.pop(key, None)
        self.submitted.discard(key)

    def value(self, key: str) -> Any:
        return self.values[key]

    def close(self) -> None:
        self.values.clear()


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


def run_compiled(session: Session, compiled: Compiled, on_done: OnDone) -> dict[str, Any]:
    """Submit every task, report each as it finishes, return the targets' values."""
    try:
        session.submit(compiled.tasks)
        while session.has_pending():
            on_done(session.next_done())
        return {k: session.value(k) for k in compiled.targets if session.known(k)}
    finally:
        session.close()


def _run_step(task: Task, cache_root: str, deps: list[Any]) -> Any:
    try:
        return execute_node(task.node, cache_root, *deps)
    except SousError:
        raise
    except Exception as exc:
        raise RunError(
            f"step {task.node.step} failed: {type(exc).__name__}: {exc}", step=task.node.step
        ) from exc


WARM_IMPORTS = "engine.worker_warmup"
STEP_MODULES = ("engine.compile", "engine.steps.data", "engine.steps.flow", "engine.steps.train")


def local_cluster(spec: ClusterSpec) -> Any:
    """A process LocalCluster on loopback, one thread per worker by default; workers import
    the heavy libraries while they start, not in the middle of the first task."""
    from distributed import LocalCluster

    with forked_from_warm_server():
        return LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=spec.threads_per_worker,
            processes=True,
            memory_limit=spec.memory_limit or "auto",
            resources=dict(spec.resources) or None,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            silence_logs=40,
            preload=[WARM_IMPORTS],
            env=worker_env(),
        )


METHOD = "distributed.worker.multiprocessing-method"


@contextlib.contextmanager
def forked_from_warm_server() -> Iterator[None]:
    """While a LocalCluster starts, its workers fork from one server process that imported
    the heavy libraries once, instead of each spawning an interpreter that imports them all
    again. Scoped: other clusters of the process (the Hydra launcher's), and workers a nanny
    restarts later, spawn as Dask's config says. A user who set ``fork`` keeps it."""
    import dask

    if not start_warm_server():
        yield
        return
    with dask.config.set({METHOD: "forkserver"}):
        yield


def start_warm_server() -> bool:
    """Start the server the workers fork from, now, so that it imports while the driver is
    busy (validating the recipe). Idempotent; False (nothing started) when the user's Dask
    config asks for ``fork``. ``local_cluster`` gives every worker the driver's environment
    as it is when the worker starts, not when the server did."""
    from multiprocessing import forkserver

    import dask
    from distributed.utils import get_mp_context

    if dask.config.get(METHOD) == "fork":
        return False
    with dask.config.set({METHOD: "forkserver"}):
        get_mp_context().set_forkserver_preload(["distributed", WARM_IMPORTS, *STEP_MODULES])
    forkserver.ensure_running()
    return True


class ClusterStarter:
    """Starts a LocalCluster in a background thread, so that its workers spawn and warm up
    while the driver is busy validating the recipe. ``take`` hands it over if it fits the
    recipe's cluster; ``close`` stops it if nobody took it."""

    def __init__(self, spec: ClusterSpec):
        self.spec = spec
        start_warm_server()
        self._cluster: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="sous-cluster-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._cluster = local_cluster(self.spec)
        except BaseException as exc:  # reported by starting again in the foreground
            self._error = exc

    def take(self, spec: ClusterSpec) -> Any:
        """The started cluster if it is the one ``spec`` asks for, else None."""
        self._thread.join()
        cluster, self._cluster = self._cluster, None
        fits = dataclasses.replace(spec, kind="local") == dataclasses.replace(
            self.spec, kind="local"
        )
        if cluster is not None and not fits:
            cluster.close()
            return None
        return cluster

    def close(self) -> None:
        self._thread.join()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


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
            yield from _remote_client(Client, self.spec)
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
        return DaskSession(self.client, cache_root, self._check_resources)

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


class DaskSession:
    """Futures keyed by node key; finished tasks come back in completion order.

    A linear chain of submitted tasks (see :func:`engine.compile.linear_chains`) goes in as
    one Dask task under its last node's key: the scheduler is not asked between its nodes.
    Its nodes come back from ``next_done`` together, in order, when it finishes."""

    def __init__(self, client: Any, cache_root: str, check: Callable[[list[Task]], None]):
        from distributed import as_completed

        self.client = client
        self.cache_root = cache_root
        self.check = check
        self.futures: dict[str, Any] = {}  # the key each Dask task runs under -> its future
        self.runs: dict[str, tuple[Task, ...]] = {}  # that key -> the tasks it runs, in order
        self.inside: dict[str, str] = {}  # a chain's inner node -> the chain's key
        # Dask tasks submitted and not yet handed out. ``as_completed`` still yields the
        # futures of cancelled tasks, and may yield an old future of a key submitted again:
        # only a future that is the live one of a pending key counts.
        self.pending: set[str] = set()
        # Dask cancels asynchronously: a key submitted again right after its cancellation
        # would share the cancelled future's state in the client. Such a key goes in again
        # under a fresh Dask key (``KEY~N``); ``node_of`` maps it back.
        self.cancels: dict[str, int] = {}
        self.node_of: dict[str, str] = {}
        self.finished: deque[Task] = deque()  # of a finished chain, not yet handed out
        self.completed = as_completed()

    def known(self, key: str) -> bool:
        return key in self.futures or key in self.inside

    def submit(self, tasks: Iterable[Task]) -> None:
        tasks = [t for t in tasks if not self.known(t.key)]
        self.check(tasks)
        for run in linear_chains(tasks):
            last = run[-1]
            dask_key = last.key
            if last.key in self.cancels:
                dask_key = f"{last.key}~{self.cancels[last.key]}"
                self.node_of[dask_key] = last.key
            if last.mode == "load":
                fut = self.client.submit(load_node, last.node, self.cache_root, key=dask_key)
            else:  # one compute task, or a chain of them
                inner = {t.key for t in run}
                outside = tuple(dict.fromkeys(d for t in run for d in t.deps if d not in inner))
                fut = self.client.submit(
                    execute_chain,
                    tuple(t.node for t in run),
                    self.cache_root,
                    outside,
                    *[self._future(d) for d in outside],
                    key=dask_key,
                    resources=dict(last.node.resources) or None,
                )
                self.inside.update({t.key: last.key for t in run[:-1]})
            self.futures[last.key] = fut
            self.runs[last.key] = run
            self.pending.add(last.key)
            self.completed.add(fut)

    def _future(self, key: str) -> Any:
        """The future of ``key``; for a chain's inner node, a load of it once the chain is done."""
        if key not in self.futures:
            node = self._inner_node(key)
            chain = self.futures[self.inside.pop(key)]
            self.futures[key] = self.client.submit(load_node, node, self.cache_root, chain, key=key)
            self.runs[key] = ()
        return self.futures[key]

    def _inner_node(self, key: str) -> Node:
        return next(t.node for t in self.runs[self.inside[key]] if t.key == key)

    def has_pending(self) -> bool:
        return bool(self.finished) or bool(self.pending)

    def next_done(self) -> Task:
        while not self.finished:
            if not self.pending:
                raise RuntimeError("next_done() called with nothing pending")
            fut = next(self.completed)
            key = self.node_of.get(fut.key, fut.key)
            if key not in self.pending or not _same(self.futures.get(key), fut):
                continue  # cancelled, or replaced by a later submission of the same key
            self.pending.discard(key)
            run = self.runs[key]
            if fut.status == "error":
                _raise_step_error(run[-1], fut)
            self.finished.extend(run)
        return self.finished.popleft()

    def cancel(self, keys: Iterable[str]) -> None:
        keys = set(keys)
        own = {self.inside.pop(k, k) for k in keys}  # an inner node cancels its whole chain
        futs = [self.futures.pop(k) for k in own if k in self.futures]
        self.pending -= own
        for key in own:
            self.runs.pop(key, None)
            self.cancels[key] = self.cancels.get(key, 0) + 1
        self.inside = {k: v for k, v in self.inside.items() if v not in own}
        self.finished = deque(t for t in self.finished if t.key not in keys)
        if futs:
            self.client.cancel(futs)

    def forget(self, key: str) -> None:
        """Let a finished task's value go (from worker memory too); later readers load it
        from the cache."""
        self.inside.pop(key, None)
        fut = self.futures.pop(key, None)
        if fut is not None:
            fut.release()

    def value(self, key: str) -> Any:
        if key in self.inside:  # persisted by the chain before it went on
            return load_node(self._inner_node(key), self.cache_root)
        return self.futures[key].result()

    def close(self) -> None:
        for fut in self.futures.values():
            fut.release()
        self.futures.clear()


def _same(a: object, b: object) -> bool:
    return a is b


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
    step = getattr(exc, "sous_step", task.node.step)  # the failing node of a chain
    raise RunError(f"step {step} failed: {type(exc).__name__}: {exc}", step=step) from exc


def make_executor(
    spec: ClusterSpec,
    override: str | None = None,
    starter: ClusterStarter | None = None,
    *,
    stop_in_background: bool = False,
) -> SyncExecutor | DaskExecutor:
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
