"""The worker runtime: what every task runs, in-process (sync) or on a Dask worker.

``execute_node`` resolves a node's inputs (its params, then its execution hints), calls the
step, measures it and persists the output under the node's key before returning, so a crash
loses only the nodes in flight. ``execute_chain`` runs a linear chain of nodes back to back.
``raise_step_failure`` is the one place a step's exception becomes a :class:`RunError`.

Where and when each computed node ran (a :class:`Placement`) goes to the sink the session set
(:func:`placements_to`): a list in the driver for in-process sessions, the scheduler's event
log on a Dask worker (:func:`execute_chain_on_worker`, one event per Dask task), which the
driver reads back.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NoReturn

from engine.errors import RunError, SousError
from engine.plan import Node, Ref
from engine.store.cache import MISS, ArtifactCache, EntryMeta

PLACEMENT_TOPIC = "sous-placement"  # the Dask event-log topic of placements


@dataclass(frozen=True)
class Placement:
    """Where and when one node was computed: the Dask worker's address (``"sync"`` in the
    driver's process) and the step's start, in seconds since the epoch."""

    key: str
    worker: str
    started: float

    @staticmethod
    def to_event(placements: Sequence[Placement]) -> dict[str, Any]:
        """One event for the nodes one Dask task computed (all on one worker): a message to
        the scheduler per task, not per node."""
        worker = placements[0].worker
        return {"worker": worker, "nodes": [[p.key, p.started] for p in placements]}

    @classmethod
    def from_event(cls, msg: Mapping[str, Any]) -> list[Placement]:
        worker = str(msg["worker"])
        return [cls(str(key), worker, float(started)) for key, started in msg["nodes"]]


Sink = Callable[[Placement], None]
_SINK: ContextVar[tuple[str, Sink] | None] = ContextVar("sous_placement_sink", default=None)


@contextlib.contextmanager
def placements_to(worker: str, sink: Sink) -> Iterator[None]:
    """Nodes computed inside the block report to ``sink`` that they ran on ``worker``."""
    token = _SINK.set((worker, sink))
    try:
        yield
    finally:
        _SINK.reset(token)


def resolve_params(params: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _resolve(v, values) for name, v in params.items()}


def _resolve(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, Ref):
        return value.resolve(values[value.key])
    if isinstance(value, dict):
        return {k: _resolve(v, values) for k, v in value.items()}
    if isinstance(value, tuple) and any(isinstance(v, Ref) for v in value):
        return tuple(_resolve(v, values) for v in value)
    return value


def execute_node(node: Node, cache_root: str, *dep_values: Any) -> Any:
    """Run one node (or return its cached output), persist it, and account for its resources."""
    cache = ArtifactCache(cache_root)
    cached = cache.get(node.key)  # another job or a previous attempt finished it
    if cached is not MISS:  # (an entry that fails verification is a miss: recomputed)
        return cached
    kwargs = resolve_params(node.arguments(), dict(zip(node.deps, dep_values, strict=True)))
    fn = node.callable()
    _reset_peak_rss()
    started = time.time()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    value = fn(**kwargs)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    cache.save(node.key, value, EntryMeta(node.key, node.step, wall, cpu, _peak_rss_mb()))
    sink = _SINK.get()
    if sink is not None:
        sink[1](Placement(node.key, sink[0], started))
    return value


def load_node(node: Node, cache_root: str, *after: Any) -> Any:
    """A node's output from the cache (``after``: futures it must wait for, unused)."""
    return ArtifactCache(cache_root).load(node.key)


def execute_chain(
    nodes: tuple[Node, ...], cache_root: str, outside: tuple[str, ...], *values: Any
) -> Any:
    """Run a chain of nodes (see :func:`linear_chains`) as one task; each node is persisted
    as it finishes, so a chain cut short resumes after its last finished node. ``outside``
    names the keys of ``values``: what the chain reads from other tasks."""
    known = dict(zip(outside, values, strict=True))
    for i, _ in enumerate(_one_by_one(nodes, cache_root, known)):
        if i:  # the previous node's only reader has run: let its output go, as Dask would
            del known[nodes[i - 1].key]
    return known[nodes[-1].key] if nodes else None


def execute_pack(
    nodes: tuple[Node, ...], cache_root: str, outside: tuple[str, ...], *values: Any
) -> tuple[Any, ...]:
    """Run a pack of nodes (independent units of work, see :mod:`engine.execution.packing`)
    back to back as one task, in the given (topological) order; return every node's value,
    in that order. Each node is persisted as it finishes, like a chain's."""
    return tuple(_one_by_one(nodes, cache_root, dict(zip(outside, values, strict=True))))


def _one_by_one(nodes: Sequence[Node], cache_root: str, known: dict[str, Any]) -> Iterator[Any]:
    """Each node's value in turn (``known``: the values it may read, each node's added as
    it is done), persisted by :func:`execute_node`; a failure says which node of the task
    it was (see :func:`raise_step_failure`)."""
    for node in nodes:
        try:
            value = execute_node(node, cache_root, *[known[d] for d in node.deps])
        except Exception as exc:
            exc.sous_step = node.step  # type: ignore[attr-defined]
            raise
        known[node.key] = value
        yield value


def execute_chain_on_worker(
    nodes: tuple[Node, ...], cache_root: str, outside: tuple[str, ...], *values: Any
) -> Any:
    """:func:`execute_chain` as a Dask task (see :func:`_on_worker`)."""
    return _on_worker(execute_chain, nodes, cache_root, outside, *values)


def execute_pack_on_worker(
    nodes: tuple[Node, ...], cache_root: str, outside: tuple[str, ...], *values: Any
) -> tuple[Any, ...]:
    """:func:`execute_pack` as a Dask task (see :func:`_on_worker`)."""
    return _on_worker(execute_pack, nodes, cache_root, outside, *values)  # type: ignore[no-any-return]


def _on_worker(run: Callable[..., Any], *args: Any) -> Any:
    """Run nodes as one Dask task: the placements of the nodes it computed go to the
    scheduler's event log as one event when it ends, failed or not (sent before the task's
    result, so they are there once it is done)."""
    from distributed import get_worker

    _size_thread_pools()
    worker = get_worker()
    placed: list[Placement] = []
    try:
        with placements_to(worker.address, placed.append):
            return run(*args)
    finally:
        if placed:
            worker.log_event(PLACEMENT_TOPIC, Placement.to_event(placed))


def pick(values: tuple[Any, ...], index: int) -> Any:
    """One node's value out of a pack's (a Dask task on the worker that holds the pack)."""
    return values[index]


_sized = threading.local()


def _size_thread_pools() -> None:
    """Once per worker thread: BLAS and OpenMP pools as ``OMP_NUM_THREADS`` says (Dask sets 1
    for its workers). A worker forked from the warm server inherited pools sized before that
    was set, one thread per core, and OpenMP's limit is per calling thread, so it is set in
    the thread that runs the steps; without it every worker's forest or boosting fit would
    compete for all the cores the other workers use too."""
    if getattr(_sized, "done", False):
        return
    _sized.done = True
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=int(threads))


class _ProcFiles:
    """This process's ``/proc/self/clear_refs`` and ``status``, opened once and kept: every
    node resets and reads its peak memory, and an open and a close of each per node cost
    more than the write and the read themselves. Keyed by pid: a forked child opens its
    own (the parent's descriptors name the parent's files)."""

    def __init__(self) -> None:
        self.pid = -1
        self.clear_refs: int | None = None
        self.status: int | None = None

    def fds(self) -> _ProcFiles:
        if self.pid != os.getpid():
            for fd in (self.clear_refs, self.status):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self.pid = os.getpid()
            self.clear_refs = _open("/proc/self/clear_refs", os.O_WRONLY)
            self.status = _open("/proc/self/status", os.O_RDONLY)
        return self


_PROC = _ProcFiles()


def _open(path: str, flags: int) -> int | None:
    try:
        return os.open(path, flags)
    except OSError:
        return None


def _reset_peak_rss() -> None:
    """Linux lets a process reset its peak RSS, so each step's peak is its own."""
    fd = _PROC.fds().clear_refs
    if fd is not None:
        with contextlib.suppress(OSError):
            os.write(fd, b"5")


def _peak_rss_mb() -> float:
    fd = _PROC.fds().status
    if fd is not None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            status = os.pread(fd, 16384, 0)
            at = status.find(b"\nVmHWM:")  # found, not split into its fifty-odd lines
            if at >= 0:
                return int(status[at + 7 : status.find(b"\n", at + 1)].split()[0]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


ENV_UNSET = "SOUS_ENV_UNSET"  # names a forked worker removes (see engine.worker_warmup)
_warm_server_keys: set[str] = set()  # every variable the driver had when a warm server started


def note_warm_server_env() -> None:
    """Remember the variables a warm fork server is starting with: its workers inherit them,
    and Dask only adds the driver's variables on top, so one the driver has unset since (a
    signing key, a home) would live on in them unless named for removal."""
    _warm_server_keys.update(os.environ)


def worker_env() -> dict[str, str]:
    """The driver's environment as it is now, for workers forked from a server that started
    earlier (state dir, PII salt, anything the caller set since), and the names of the
    variables the server had that the driver no longer has, for the worker to remove."""
    env = dict(os.environ)
    env[ENV_UNSET] = "\n".join(sorted(_warm_server_keys.difference(os.environ)))
    return env


def raise_step_failure(exc: BaseException, step: str) -> NoReturn:
    """The one place a step's exception becomes what the run reports: a Sous error as it
    is, anything else as a RunError naming the step (for a chain, the node that failed)."""
    if isinstance(exc, SousError):
        raise exc
    step = getattr(exc, "sous_step", step)
    raise RunError(f"step {step} failed: {type(exc).__name__}: {exc}", step=step) from exc
