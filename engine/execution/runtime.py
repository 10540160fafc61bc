"""The worker runtime: what every task runs, in-process (sync) or on a Dask worker.

``execute_node`` resolves a node's inputs (its params, then its execution hints), calls the
step, measures it and persists the output under the node's key before returning, so a crash
loses only the nodes in flight. ``execute_chain`` runs a linear chain of nodes back to back.
``raise_step_failure`` is the one place a step's exception becomes a :class:`RunError`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any, NoReturn

from engine.errors import RunError, SousError
from engine.plan import Node, Ref
from engine.store.cache import MISS, ArtifactCache, EntryMeta


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
    wall0, cpu0 = time.perf_counter(), time.process_time()
    value = fn(**kwargs)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    cache.save(node.key, value, EntryMeta(node.key, node.step, wall, cpu, _peak_rss_mb()))
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


def raise_step_failure(exc: BaseException, step: str) -> NoReturn:
    """The one place a step's exception becomes what the run reports: a Sous error as it
    is, anything else as a RunError naming the step (for a chain, the node that failed)."""
    if isinstance(exc, SousError):
        raise exc
    step = getattr(exc, "sous_step", step)
    raise RunError(f"step {step} failed: {type(exc).__name__}: {exc}", step=step) from exc
