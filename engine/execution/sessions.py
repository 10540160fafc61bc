"""Sessions: incremental execution of compiled tasks. Submit tasks any time; take finished
ones as they come. ``SyncSession`` runs them in this process, in order (the reference);
``DaskSession`` runs them as Dask futures keyed by node key, so identical work submitted by
concurrent jobs runs once. Both run :mod:`engine.execution.runtime`."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from engine.execution import packing
from engine.execution.compile import Compiled, Task, linear_chains
from engine.execution.runtime import (
    PLACEMENT_TOPIC,
    Placement,
    execute_chain_on_worker,
    execute_node,
    execute_pack_on_worker,
    load_node,
    pick,
    placements_to,
    raise_step_failure,
)
from engine.plan import Node

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
    def values(self, keys: Iterable[str]) -> dict[str, Any]: ...
    def placements(self) -> dict[str, Placement]: ...
    def close(self) -> None: ...


class SyncSession:
    """Runs submitted tasks one at a time, in submission order, in this process."""

    def __init__(self, cache_root: str):
        self.cache_root = cache_root
        self.done_values: dict[str, Any] = {}
        self.queue: deque[Task] = deque()
        self.submitted: set[str] = set()
        self.placed: dict[str, Placement] = {}

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
            self.done_values[task.key] = load_node(task.node, self.cache_root)
        else:
            deps = [self.done_values[d] for d in task.deps]
            try:
                with placements_to("sync", self._place):
                    self.done_values[task.key] = execute_node(task.node, self.cache_root, *deps)
            except Exception as exc:
                raise_step_failure(exc, task.node.step)
        return task

    def cancel(self, keys: Iterable[str]) -> None:
        drop = set(keys)
        self.queue = deque(t for t in self.queue if t.key not in drop)
        self.submitted -= drop

    def forget(self, key: str) -> None:
        """Let a finished task's value go; later readers load it from the cache."""
        self.done_values.pop(key, None)
        self.submitted.discard(key)

    def value(self, key: str) -> Any:
        return self.done_values[key]

    def values(self, keys: Iterable[str]) -> dict[str, Any]:
        return {k: self.done_values[k] for k in keys}

    def _place(self, placement: Placement) -> None:
        self.placed[placement.key] = placement

    def placements(self) -> dict[str, Placement]:
        """Where and when each node this session computed ran (all in this process)."""
        return dict(self.placed)

    def close(self) -> None:
        self.done_values.clear()


def run_compiled(session: Session, compiled: Compiled, on_done: OnDone) -> dict[str, Any]:
    """Submit every task, report each as it finishes, return the targets' values."""
    try:
        session.submit(compiled.tasks)
        while session.has_pending():
            on_done(session.next_done())
        return session.values(k for k in compiled.targets if session.known(k))
    finally:
        session.close()


class DaskSession:
    """Futures keyed by node key; finished tasks come back in completion order.

    A linear chain of submitted tasks (see :func:`engine.execution.compile.linear_chains`) goes in as
    one Dask task under its last node's key: the scheduler is not asked between its nodes.
    Its nodes come back from ``next_done`` together, in order, when it finishes.

    With ``slots`` (how many tasks the cluster runs at once), many alike cheap units of work
    go in packs, one Dask task each (:mod:`engine.execution.packing`); a pack's nodes come
    back together too, and its values are read from the pack."""

    def __init__(
        self,
        client: Any,
        cache_root: str,
        check: Callable[[list[Task]], None],
        slots: Callable[[], int] | None = None,
    ):
        from distributed import as_completed

        self.client = client
        self.cache_root = cache_root
        self.check = check
        self.slots = slots  # None: no packing
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
        self.opened = time.time()
        self.groups: list[packing.Group] = []  # units held back until a probe is timed
        self.held: dict[str, packing.Group] = {}  # a held node -> its group
        self.packed: dict[str, tuple[str, int, Node]] = {}  # node -> (its pack, index, node)
        self.members: dict[str, int] = {}  # a pack -> how many of its nodes are still known

    def known(self, key: str) -> bool:
        return key in self.futures or key in self.inside or key in self.packed or key in self.held

    def submit(self, tasks: Iterable[Task]) -> None:
        """One graph per call (per stretch of runs asking for the same resources), not one
        ``client.submit`` each: a single message to the scheduler, a single serialization
        and a single walk of the caller's stack, whatever the number of tasks. Large groups
        of alike units wait for their probes (see :mod:`engine.execution.packing`)."""
        tasks = [t for t in tasks if not self.known(t.key)]
        self.check(tasks)
        for group in {id(g): g for t in tasks for d in t.deps if (g := self.held.get(d))}.values():
            self._release(group, None)  # new work reads a held node: it goes now, unpacked
        runs = linear_chains(tasks)
        if self.slots is not None and len(runs) > 1:
            loads, units = packing.units(runs)
            now, groups = packing.hold(units, self.slots)
            runs = [*loads, *(run for unit in now for run in unit.runs)]
            for group in groups:
                self.groups.append(group)
                self.held.update(dict.fromkeys(group.keys, group))
        self._send_runs(runs)

    def _send_runs(self, runs: Iterable[tuple[Task, ...]]) -> None:
        graph: dict[str, Any] = {}  # dask key -> task spec, not yet sent
        resources: dict[str, Any] = {}
        for run in runs:
            last = run[-1]
            wants = dict(last.node.resources) if last.mode == "compute" else {}
            if graph and wants != resources:
                self._send(graph, resources)
                graph = {}
            resources = wants
            dask_key = last.key
            if last.key in self.cancels:
                dask_key = f"{last.key}~{self.cancels[last.key]}"
                self.node_of[dask_key] = last.key
            graph[dask_key] = self._spec(dask_key, run, graph)
            if last.mode == "compute":
                self.inside.update({t.key: last.key for t in run[:-1]})
            self.runs[last.key] = run
        if graph:
            self._send(graph, resources)

    def _release(self, group: packing.Group, latency: float | None) -> None:
        """Send a held group: in packs as ``latency`` (one unit's) allows, else one by one."""
        self.groups.remove(group)
        for key in group.keys:
            self.held.pop(key, None)
        if not group.held:
            return
        slots = self.slots() if self.slots is not None and latency is not None else 1
        singles: list[tuple[Task, ...]] = []
        graph: dict[str, Any] = {}
        for pack in packing.deal(group.held, latency, slots):
            if len(pack) == 1:
                singles.extend(pack[0].runs)
                continue
            tasks = tuple(t for unit in pack for t in unit.tasks)
            pack_key = f"sous-pack-{uuid.uuid4().hex}"
            graph[pack_key] = self._spec(pack_key, tasks, graph, execute_pack_on_worker)
            self.runs[pack_key] = tasks
            self.members[pack_key] = len(tasks)
            self.packed.update({t.key: (pack_key, i, t.node) for i, t in enumerate(tasks)})
        if graph:
            resources = dict(group.held[0].runs[-1][-1].node.resources)
            self._send(graph, resources)
        self._send_runs(singles)

    def _spec(
        self,
        dask_key: str,
        run: tuple[Task, ...],
        graph: Mapping[str, Any],
        runner: Callable[..., Any] = execute_chain_on_worker,
    ) -> Any:
        """The Dask task that runs ``run``: a load, one compute task, a chain of them or a
        pack. What it reads is a future of an earlier graph, or a task of ``graph`` (not
        sent yet)."""
        from dask._task_spec import Task as DaskTask
        from dask._task_spec import TaskRef, parse_input

        last = run[-1]
        if last.mode == "load":
            return DaskTask(dask_key, load_node, last.node, self.cache_root)
        inner = {t.key for t in run}
        outside = tuple(dict.fromkeys(d for t in run for d in t.deps if d not in inner))
        reads = [
            TaskRef(self._pending_key(d))
            if self._unsent(d, graph)
            else parse_input(self._future(d))
            for d in outside
        ]
        nodes = tuple(t.node for t in run)
        return DaskTask(dask_key, runner, nodes, self.cache_root, outside, *reads)

    def _unsent(self, key: str, graph: Mapping[str, Any]) -> bool:
        return key not in self.futures and self._pending_key(key) in graph

    def _pending_key(self, key: str) -> str:
        """The Dask key ``key`` goes in under (``KEY~N`` after a cancellation)."""
        return f"{key}~{self.cancels[key]}" if key in self.cancels else key

    def _send(self, graph: dict[str, Any], resources: Mapping[str, Any]) -> None:
        keys = list(graph)
        futures = self.client.get(graph, keys, sync=False, resources=dict(resources) or None)
        for dask_key, fut in zip(keys, futures, strict=True):
            key = self.node_of.get(dask_key, dask_key)
            self.futures[key] = fut
            self.pending.add(key)
        self.completed.update(futures)

    def _future(self, key: str) -> Any:
        """The future of ``key``; for a chain's inner node, a load of it once the chain is
        done; for a packed node, its value picked from the pack's on the worker."""
        if key not in self.futures and key in self.packed:
            pack_key, index, _ = self.packed[key]
            self.futures[key] = self.client.submit(pick, self.futures[pack_key], index, key=key)
            self.runs[key] = ()
        if key not in self.futures:
            node = self._inner_node(key)
            chain = self.futures[self.inside.pop(key)]
            self.futures[key] = self.client.submit(load_node, node, self.cache_root, chain, key=key)
            self.runs[key] = ()
        return self.futures[key]

    def _inner_node(self, key: str) -> Node:
        return next(t.node for t in self.runs[self.inside[key]] if t.key == key)

    def has_pending(self) -> bool:
        return bool(self.finished) or bool(self.pending) or bool(self.groups)

    def next_done(self) -> Task:
        while not self.finished:
            if not self.pending and self.groups:  # their probes were cancelled
                self._release(self.groups[0], None)
                continue
            if not self.pending:
                raise RuntimeError("next_done() called with nothing pending")
            fut = next(self.completed)
            key = self.node_of.get(fut.key, fut.key)
            if key not in self.pending or not _same(self.futures.get(key), fut):
                continue  # cancelled, or replaced by a later submission of the same key
            self.pending.discard(key)
            run = self.runs[key]
            if fut.status == "error":
                raise_step_failure(fut.exception(), run[-1].node.step)
            self.finished.extend(run)
            self._timed(key)
        return self.finished.popleft()

    def _timed(self, key: str) -> None:
        """A run finished: if it was a probe's last, its group goes, packed as it says."""
        for group in list(self.groups):
            latency = group.finished(key)
            if latency is not None:
                self._release(group, latency)

    def cancel(self, keys: Iterable[str]) -> None:
        keys = set(keys)
        self._cancel_held(keys)
        keys = self._cancel_packed(keys)
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

    def _cancel_held(self, keys: set[str]) -> None:
        """Held units with a cancelled node are dropped whole (a unit runs whole or not)."""
        for group in list(self.groups):
            before = group.keys
            group.drop(keys)
            for key in before - group.keys:
                self.held.pop(key, None)
            if not group.held:
                self.groups.remove(group)
            elif not group.probes:  # no probe left to time them: they go, one by one
                self._release(group, None)

    def _cancel_packed(self, keys: set[str]) -> set[str]:
        """Cancelled packed nodes are not handed out; a pack none of whose nodes is wanted
        any more is cancelled. Returns the keys left for the chains' and tasks' own path."""
        for key in keys & self.packed.keys():
            pack_key = self.packed[key][0]
            self._let_go(key)
            self.runs[pack_key] = tuple(t for t in self.runs.get(pack_key, ()) if t.key != key)
            if pack_key not in self.members:  # none left: the pack itself goes
                keys.add(pack_key)
        return keys

    def _let_go(self, key: str) -> None:
        """A packed node is no longer known; the last one lets its pack's future go."""
        pack_key = self.packed.pop(key)[0]
        self.members[pack_key] -= 1
        if not self.members[pack_key]:
            del self.members[pack_key]
            if pack_key not in self.pending:  # still running: cancel() decides
                fut = self.futures.pop(pack_key, None)
                if fut is not None:
                    fut.release()

    def forget(self, key: str) -> None:
        """Let a finished task's value go (from worker memory too); later readers load it
        from the cache."""
        if key in self.packed:
            self._let_go(key)
        self.inside.pop(key, None)
        fut = self.futures.pop(key, None)
        if fut is not None:
            fut.release()

    def value(self, key: str) -> Any:
        if key in self.inside:  # persisted by the chain before it went on
            return load_node(self._inner_node(key), self.cache_root)
        if key in self.packed and key not in self.futures:  # persisted: no need for the pack
            return load_node(self.packed[key][2], self.cache_root)
        return self.futures[key].result()

    def values(self, keys: Iterable[str]) -> dict[str, Any]:
        """Several values in one gather (one round trip), not one ``result()`` each; the
        values of packed nodes come from their packs, gathered once each."""
        keys = list(keys)
        direct = [k for k in keys if k not in self.inside and k not in self.packed]
        packs = list(dict.fromkeys(self.packed[k][0] for k in keys if k in self.packed))
        futures = [self.futures[k] for k in direct] + [self.futures[p] for p in packs]
        gathered = self.client.gather(futures)
        got = dict(zip(direct, gathered[: len(direct)], strict=True))
        of_pack = dict(zip(packs, gathered[len(direct) :], strict=True))
        for k in keys:
            if k in self.packed:
                pack_key, index, _ = self.packed[k]
                got[k] = of_pack[pack_key][index]
        return {k: got[k] if k in got else self.value(k) for k in keys}

    def placements(self) -> dict[str, Placement]:
        """Where and when each node computed since this session opened ran, from the
        scheduler's event log (a worker logs the placements of a task's nodes, one event per
        task, before its result, so every finished task's nodes are there)."""
        placed: dict[str, Placement] = {}
        for _, msg in self.client.get_events(PLACEMENT_TOPIC):
            for placement in Placement.from_event(msg):
                if placement.started >= self.opened - 1.0:  # one host's clocks; slack for others
                    placed[placement.key] = placement  # the latest, if a key ran twice
        return placed

    def close(self) -> None:
        for fut in self.futures.values():
            fut.release()
        self.futures.clear()


def _same(a: object, b: object) -> bool:
    return a is b
