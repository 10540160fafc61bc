"""The Dask dashboard a run links to answers: bokeh is a dependency (issue 15). Without a
dashboard (``cluster.dashboard: off``, or ``auto`` with no terminal) the cluster serves
none and its workers do not run Dask's statistical profiler, which only feeds it."""

from __future__ import annotations

import dataclasses
from typing import Any

import dask
import httpx
import pytest

from engine.execution.cluster import PROFILER, SYSTEM_MONITOR, local_cluster, sampling
from engine.execution.executors import DaskExecutor
from engine.specs import ClusterSpec


def _profiling(dask_worker: Any) -> bool:
    return "profile" in dask_worker.periodic_callbacks


def _rates(dask_worker: Any = None, dask_scheduler: Any = None) -> tuple[float, float]:
    """(tick, system monitor) intervals in ms of the server it runs on."""
    server = dask_worker if dask_worker is not None else dask_scheduler
    callbacks = server.periodic_callbacks
    return callbacks["tick"].callback_time, callbacks["monitor"].callback_time


def _every_server_rates(executor: DaskExecutor) -> set[tuple[float, float]]:
    """The rates of the scheduler, of each nanny (in the driver) and of each worker."""
    client = executor.client
    nannies = client.cluster.workers.values()
    return {
        client.run_on_scheduler(_rates),
        *client.run(_rates).values(),
        *(_rates(nanny) for nanny in nannies),
    }


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
        # nobody watching: every server samples itself less often; watched: Dask's rates
        assert _every_server_rates(executor) == ({(20, 500)} if served else {(100, 2000)})


def test_rates_the_user_set_in_their_dask_config_are_kept() -> None:
    user = dask.config.set({"distributed.admin.tick.interval": "50ms"})
    with user, DaskExecutor(ClusterSpec(workers=1, dashboard="off")) as executor:
        assert _every_server_rates(executor) == {(50, 2000)}
    assert sampling(show=False)[SYSTEM_MONITOR[0]] == "2s"
    with dask.config.set({SYSTEM_MONITOR[0]: "1s"}):
        assert SYSTEM_MONITOR[0] not in sampling(show=False)
        assert sampling(show=True) == {PROFILER: True}


def test_a_profiled_spec_is_a_different_cluster_from_an_unprofiled_one() -> None:
    """The early-started cluster is taken over only if it is the one the run asks for:
    ``--profile`` asks for a dashboard, so an early ``auto`` cluster would not do."""
    spec = ClusterSpec(workers=1)
    assert dataclasses.replace(spec, dashboard="on") != spec


@pytest.mark.parametrize("warm", [True, False])
def test_workers_added_later_sample_like_the_first(warm: bool) -> None:
    """A worker added after start-up (``cluster.adaptive`` growing the cluster, or a scale)
    comes from the same spec as the first ones, so it samples at the same rates and runs
    no profiler; its nanny, in the driver, too."""
    from distributed import Client

    spec = ClusterSpec(workers=1, dashboard="off")
    with local_cluster(spec, warm=warm) as cluster, Client(cluster) as client:
        cluster.scale(2)
        client.wait_for_workers(2, timeout=60)
        assert list(client.run(_profiling).values()) == [False, False]
        nannies = cluster.workers.values()
        rates = {client.run_on_scheduler(_rates), *client.run(_rates).values()}
        assert rates | {_rates(nanny) for nanny in nannies} == {(100, 2000)}
