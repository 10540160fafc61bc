"""Plan -> tasks: which nodes to compute, which to load from the cache, which to skip.

A node whose output is in the cache is never recomputed: if a computed node reads it, it becomes
a cheap *load* task; if nothing computed reads it, it is not touched at all. Linear chains of
tasks are grouped so a session can run each as one executor task. Running a task is
:mod:`engine.execution.runtime`'s job.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.plan import Node, Plan
from engine.store.cache import ArtifactCache


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
    """Tasks in topological order; ``cached``: nodes found in the cache (see
    :func:`compile_plan`)."""

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
    *,
    walk_only: bool = False,
) -> Compiled:
    """Walk back from ``targets``; stop at cached nodes and at ``known`` ones (already
    submitted to the running session). ``cached`` holds every node of the plan found in
    the cache (``sous plan`` shows them all); with ``walk_only`` only those the walk met, so
    the cache is asked about the nodes the targets need, not the whole plan: the driver
    compiles again for every batch of trials, and a plan grows with its sweep."""
    nodes = plan.nodes if isinstance(plan, Plan) else plan
    targets = tuple(dict.fromkeys(targets))
    cached = set() if walk_only else {k for k in nodes if cache.has(k)}
    probed: dict[str, bool] = {}

    def in_cache(key: str) -> bool:
        if not walk_only:
            return key in cached
        if key not in probed:
            probed[key] = cache.has(key)
            if probed[key]:
                cached.add(key)
        return probed[key]

    modes: dict[str, str] = {}
    stack = [k for k in targets if k not in known and not in_cache(k)]
    while stack:
        key = stack.pop()
        if key in modes or key in known:
            continue
        if in_cache(key):
            modes[key] = "load"
            continue
        modes[key] = "compute"
        stack.extend(nodes[key].deps)
    tasks = tuple(Task(nodes[k], modes[k]) for k in nodes if k in modes)
    return Compiled(tasks, frozenset(cached), targets)


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
