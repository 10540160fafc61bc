"""The Dask dashboard a run links to answers: bokeh is a dependency (issue 15). Without a
dashboard (``cluster.dashboard: off``, or ``auto`` with no terminal) the cluster serves
none and its workers do not run Dask's statistical profiler, which only feeds it."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from engine.execution.cluster import local_cluster
from engine.execution.executors import DaskExecutor
from engine.specs import ClusterSpec


def _profiling(dask_worker: Any) -> bool:
    return "profile" in dask_worker.periodic_callbacks


def test_dashboard_status_page_answers_on_a_local_cluster() -> None:
    cluster = local_cluster(ClusterSpec(workers=1, dashboard="on"), warm=False)
    try:
        link = cluster.dashboard_link
        assert link.startswith("http://127.0.0.1:")
        answer = httpx.get(link, timeout=30, follow_redirects=True)
        assert answer.status_code == 200
        assert "bokeh" in answer.text.lower()
    finally:
        cluster.close()


@pytest.mark.parametrize("setting", ["on", "off", "auto"])
def test_dashboard_and_worker_profiler_follow_the_setting(setting: str) -> None:
    """Under pytest stderr is captured (no terminal), so ``auto`` means off here; the warm
    fork server's workers get the setting too (a nanny hands its config to its worker)."""
    spec = ClusterSpec(workers=1, dashboard=setting)
    with DaskExecutor(spec) as executor:
        served = setting == "on"
        assert (executor.dashboard is not None) is served
        if served:
            page = httpx.get(executor.dashboard, timeout=30, follow_redirects=True)
            assert page.status_code == 200 and "bokeh" in page.text.lower()
        assert list(executor.client.run(_profiling).values()) == [served]


def test_a_profiled_spec_is_a_different_cluster_from_an_unprofiled_one() -> None:
    """The early-started cluster is taken over only if it is the one the run asks for:
    ``--profile`` asks for a dashboard, so an early ``auto`` cluster would not do."""
    spec = ClusterSpec(workers=1)
    assert dataclasses.replace(spec, dashboard="on") != spec
