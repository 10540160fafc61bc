"""Each node's peak memory is its own: the runtime resets the process's peak before a step
and reads it after, through /proc files it opens once per process (a forked child opens
its own)."""

from __future__ import annotations

import multiprocessing
import os
import sys

import pytest
import toy_steps

from engine.execution import runtime
from engine.plan import PlanBuilder
from engine.store.cache import ArtifactCache

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="Linux peak-RSS reset only"
)


def peaks(root: str, sizes: list[int]) -> list[float]:
    b = PlanBuilder("peaks")
    keys = [b.add(f"hold{i}", toy_steps.hold_mb, {"mb": mb}) for i, mb in enumerate(sizes)]
    for key in keys:
        runtime.execute_node(b.nodes[key], root)
    cache = ArtifactCache(root)
    return [cache.meta(k).peak_mem_mb for k in keys]


def test_each_node_reports_its_own_peak_with_the_files_opened_once(tmp_path) -> None:
    big, small, again = peaks(str(tmp_path), [200, 1, 200])
    assert big - small > 150  # the reset before the small step took
    assert again - small > 150
    fds = (runtime._PROC.clear_refs, runtime._PROC.status)
    peaks(str(tmp_path / "more"), [1])
    assert (runtime._PROC.clear_refs, runtime._PROC.status) == fds  # kept, not reopened
    assert runtime._PROC.pid == os.getpid()


def _child(root: str, out: multiprocessing.queues.SimpleQueue) -> None:  # type: ignore[name-defined]
    out.put((peaks(root, [1, 120]), runtime._PROC.pid, os.getpid()))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_measures_itself_not_its_parent(tmp_path) -> None:
    (parent,) = peaks(str(tmp_path / "parent"), [250])  # the parent's files open, peak high
    ctx = multiprocessing.get_context("fork")
    out = ctx.SimpleQueue()
    child = ctx.Process(target=_child, args=(str(tmp_path / "child"), out))
    child.start()
    (small, big), opened_by, pid = out.get()
    child.join(timeout=60)
    assert opened_by == pid != os.getpid()
    # its own peaks, reset in the child: the small step's is under the parent's 250 MB peak
    # (a fork starts at the parent's current size, whatever the suite has loaded by then)
    assert big - small > 80 and small < parent - 100
