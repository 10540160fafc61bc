"""Plan -> tasks: which nodes to compute, which to load from the cache, which to skip.

A node whose output is in the cache is never recomputed: if a computed node reads it, it becomes
a cheap *load* task; if nothing computed reads it, it is not touched at all. ``execute_node`` is
the function every task runs, in-process (sync executor) or on a Dask worker; it persists the
output under the node's key before returning, so a crash loses only the nodes in flight.
"""

from __future__ import annotations

import os
import time
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.plan import Node, Plan, Ref
from engine.store.cache import ArtifactCache, EntryMeta


@dataclass(frozen=True)
class Task:
    node: Node
    mode: str  # "compute" | "load"

    @property
    def key(self) -> str:
        return self.node.key

    @property
    def deps(self) -> tuple[str, ...]:
        return self.node.deps if self.mode == "compute" else ()


@dataclass(frozen=True)
class Compiled:
    """Tasks in topological order; ``cached`` are targets already in the cache."""

    tasks: tuple[Task, ...]
    cached: frozenset[str]
    targets: tuple[str, ...]

    @property
    def to_compute(self) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if t.mode == "compute")


def compile_plan(
    plan: Plan | Mapping[str, Node],
    cache: ArtifactCache,
    targets: Iterable[str],
    known: Container[str] = frozenset(),
) -> Compiled:
    """Walk back from ``targets``; stop at cached nodes and at ``known`` ones (already
    submitted to the running session)."""
    nodes = plan.nodes if isinstance(plan, Plan) else plan
    targets = tuple(dict.fromkeys(targets))
    cached = {k for k in nodes if cache.has(k)}
    modes: dict[str, str] = {}
    stack = [k for k in targets if k not in cached]
    while stack:
        key = stack.pop()
        if key in modes or key in known:
            continue
        if key in cached:
            modes[key] = "load"
            continue
        modes[key] = "compute"
        stack.extend(nodes[key].deps)
    tasks = tuple(Task(nodes[k], modes[k]) for k in nodes if k in modes)
    return Compiled(tasks, frozenset(cached), targets)


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
    if cache.has(node.key):  # another job or a previous attempt finished it
        return cache.load(node.key)
    kwargs = resolve_params(node.arguments(), dict(zip(node.deps, dep_values, strict=True)))
    fn = node.callable()
    _reset_peak_rss()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    value = fn(**kwargs)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    cache.save(node.key, value, EntryMeta(node.key, node.step, wall, cpu, _peak_rss_mb()))
    return value


def load_node(node: Node, cache_root: str, *after: Any) -> Any:
    """A node's output from the cache (``after``: futures it must wait for, unused)."""
    return ArtifactCache(cache_root).load(node.key)


def linear_chains(tasks: Sequence[Task]) -> list[tuple[Task, ...]]:
    """``tasks`` (topological order) grouped into runs of one task each, except that a
    compute task whose only dependent is the next task, which reads nothing else of the
    batch, joins that task's run. A run is one executor task: along a chain, each node's
    output feeds the next without a round trip through the scheduler. Runs come back in an
    order where every run follows the runs it reads."""
    batch = {t.key for t in tasks}
    dependents: dict[str, list[str]] = {}
    for task in tasks:
        for dep in task.deps:
            if dep in batch:
                dependents.setdefault(dep, []).append(task.key)
    by_key = {t.key: t for t in tasks}
    run_of: dict[str, list[Task]] = {}
    runs: list[list[Task]] = []
    for task in tasks:
        inside = [d for d in task.deps if d in batch]
        joins = (
            len(inside) == 1
            and task.mode == "compute"
            and dependents.get(inside[0]) == [task.key]
            and by_key[inside[0]].mode == "compute"
            and by_key[inside[0]].node.resources == task.node.resources
        )
        run = run_of[inside[0]] if joins else []
        if not joins:
            runs.append(run)
        run.append(task)
        run_of[task.key] = run
    position = {t.key: i for i, t in enumerate(tasks)}
    runs.sort(key=lambda run: position[run[-1].key])
    return [tuple(run) for run in runs]


def execute_chain(
    nodes: tuple[Node, ...], cache_root: str, outside: tuple[str, ...], *values: Any
) -> Any:
    """Run a chain of nodes (see :func:`linear_chains`) as one task; each node is persisted
    as it finishes, so a chain cut short resumes after its last finished node. ``outside``
    names the keys of ``values``: what the chain reads from other tasks."""
    known = dict(zip(outside, values, strict=True))
    value = None
    for i, node in enumerate(nodes):
        try:
            value = execute_node(node, cache_root, *[known[d] for d in node.deps])
        except Exception as exc:
            exc.sous_step = node.step  # type: ignore[attr-defined]  # which node of the chain
            raise
        if i:  # the previous node's only reader has run: let its output go, as Dask would
            del known[nodes[i - 1].key]
        known[node.key] = value
    return value


def _reset_peak_rss() -> None:
    """Linux lets a process reset its peak RSS, so each step's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_env() -> dict[str, str]:
    """The driver's environment as it is now, for workers forked from a server that started
    earlier (state dir, PII salt, anything the caller set since)."""
    return dict(os.environ)
