"""Cluster start-up: the one LocalCluster factory (runs and the Hydra launcher use it), the
warm fork server its workers come from, a starter that brings one up in the background, and
the connection to a remote scheduler."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

from engine.errors import UserError
from engine.security import schedulers
from engine.specs import AdaptiveSpec, ClusterSpec

WARM_IMPORTS = "engine.worker_warmup"
STEP_MODULES = (
    "engine.execution.runtime",
    "engine.steps.data",
    "engine.steps.flow",
    "engine.steps.train",
)
# the validate step's imports (about a second), for a recipe that declares schema checks
SCHEMA_MODULES = ("pandera.pandas", "pandera.backends.pandas.builtin_checks")


def local_cluster(
    spec: ClusterSpec,
    *,
    warm: bool = True,
    dashboard: bool | None = None,
    silence_logs: int = logging.ERROR,
) -> Any:
    """The one LocalCluster factory: worker processes on loopback, one thread each by
    default, with the driver's environment. ``warm``: workers fork from a server that
    imported the heavy libraries once and preload them, so the first task does not pay for
    the imports (the Hydra launcher, whose jobs are whole runs, passes False).
    ``dashboard``: None follows ``spec.dashboard`` (see :func:`dashboard_wanted`).
    ``spec.adaptive``: the cluster starts with its minimum and Dask adapts it (below)."""
    import dask
    from distributed import LocalCluster

    from engine.execution.runtime import worker_env

    show = dashboard_wanted(spec.dashboard) if dashboard is None else dashboard
    settings = sampling(show)
    scope = forked_from_warm_server() if warm else contextlib.nullcontext()
    with scope, dask.config.set(settings):
        if warm:
            _keep_our_preload()  # distributed is imported by now
        cluster = LocalCluster(
            worker_class=nanny_class(),
            sous_settings=settings,
            n_workers=spec.adaptive.minimum if spec.adaptive else spec.workers,
            threads_per_worker=spec.threads_per_worker,
            processes=True,
            memory_limit=spec.memory_limit or "auto",
            resources=dict(spec.resources) or None,
            dashboard_address="127.0.0.1:0" if show else None,
            host="127.0.0.1",
            silence_logs=silence_logs,
            preload=[WARM_IMPORTS] if warm else [],
            env=worker_env(),
        )
    if spec.adaptive is not None:
        adapt(cluster, spec.adaptive)
    return cluster


PROFILER = "distributed.worker.profile.enabled"
# how often every Dask server (the scheduler, each nanny, each worker) samples itself, with
# Dask's defaults: the event loop's health every 20 ms, the process's CPU, memory, disk and
# network every 500 ms
TICK = ("distributed.admin.tick.interval", "20ms", "100ms")
SYSTEM_MONITOR = ("distributed.admin.system-monitor.interval", "500ms", "2s")


def sampling(show: bool) -> dict[str, Any]:
    """The Dask settings of how a local cluster watches itself (read when its servers are
    built; a nanny hands its config to its worker). With the dashboard shown, Dask's own.
    Without: no statistical profiler (it feeds the dashboard's profile pages and nothing
    else), the event-loop tick every 100 ms (its warning on a loop blocked for seconds
    still fires) and the system monitor every 2 s (the dashboard's system pages; the
    memory a worker reports with its heartbeat). The scheduler and both nannies share the
    driver's event loop: at Dask's rates this sampling took about 5% of a core for the
    whole run, on the cores the fits need (issue 10). A rate the user set in their Dask
    config is kept."""
    import dask
    from dask.utils import parse_timedelta

    settings: dict[str, Any] = {PROFILER: show}
    if not show:
        for key, dask_default, ours in (TICK, SYSTEM_MONITOR):
            if parse_timedelta(dask.config.get(key)) == parse_timedelta(dask_default):
                settings[key] = ours
    return settings


@functools.cache
def nanny_class() -> type:
    """Dask's Nanny, built inside the cluster's :func:`sampling` settings (passed as
    ``sous_settings``), with its worker's config a copy taken then. A nanny reads its own
    rates when it is built, and keeps the driver's config (not a copy) for the worker it
    starts, maybe later: a worker that ``cluster.adaptive`` (or a scale) added after
    :func:`local_cluster` returned ran at Dask's rates, with the profiler.
    (A class made on first use: distributed is imported only when a cluster starts.)"""
    import copy

    from distributed import Nanny

    class SampledNanny(Nanny):  # type: ignore[misc]
        def __init__(self, *args: Any, sous_settings: dict[str, Any], **kwargs: Any):
            import dask

            with dask.config.set(sous_settings):
                kwargs["config"] = copy.deepcopy(dask.config.config)
                super().__init__(*args, **kwargs)

    return SampledNanny


def dashboard_wanted(setting: str) -> bool:
    """Whether a local cluster serves Dask's dashboard: ``on``, ``off``, or ``auto``: when
    someone is watching (stderr is a terminal, or the run is in a Jupyter kernel, whose
    stderr is not one). Bokeh's import and the workers' profiler cost about a second of
    the driver's CPU and a share of every worker's, which a scripted run (``--json``, CI,
    a benchmark) would pay for a page nobody opens."""
    if setting == "auto":
        terminal = sys.stderr is not None and sys.stderr.isatty()
        return terminal or "ipykernel" in sys.modules
    return setting == "on"


def profiled(spec: ClusterSpec) -> ClusterSpec:
    """The cluster a ``--profile`` run asks for: Dask draws its performance report with the
    dashboard, from the workers' profiles, so both are on whatever ``spec.dashboard`` says."""
    return dataclasses.replace(spec, dashboard="on")


def adapt(cluster: Any, bounds: AdaptiveSpec) -> Any:
    """Let Dask size ``cluster`` between the bounds: it adds workers while tasks wait longer
    than ``ADAPT_TARGET`` of work per worker, and retires a worker idle for
    ``ADAPT_WAIT`` checks (its results move to the others first; a Sous node's output is in
    the cache anyway, so a retired worker never costs a recomputation)."""
    return cluster.adapt(
        minimum=bounds.minimum,
        maximum=bounds.maximum,
        target_duration=ADAPT_TARGET,
        interval=ADAPT_INTERVAL,
        wait_count=ADAPT_WAIT,
    )


ADAPT_TARGET = "5s"  # Dask's default: enough workers to finish the queued work in about this
ADAPT_INTERVAL = "1s"  # how often the scheduler reconsiders
ADAPT_WAIT = 3  # consecutive idle checks before a worker is retired


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


def start_warm_server(*, schema: bool = True) -> bool:
    """Start the server the workers fork from, now, so that it imports while the driver is
    busy (validating the recipe). Idempotent (the first call decides what the server
    imports); False (nothing started) when the user's Dask config asks for ``fork``.
    ``local_cluster`` gives every worker the driver's environment as it is when the worker
    starts, not when the server did. ``schema``: also import what the validate step needs
    for schema checks; the server's imports end before any worker can start, so a recipe
    without checks gets its workers about a second sooner without them.

    Started with the standard library alone: importing ``distributed`` here (and asking it
    for its multiprocessing context, which imports NumPy and pandas to list them for its
    own preload) held the driver for most of a second before the server could begin its
    own imports; Dask's defaults are not needed to read the user's setting."""
    import multiprocessing
    from multiprocessing import forkserver

    import dask

    if dask.config.get(METHOD, None) == "fork":
        return False
    ctx = multiprocessing.get_context("forkserver")
    extra = SCHEMA_MODULES if schema else ()
    ctx.set_forkserver_preload(["distributed", WARM_IMPORTS, *STEP_MODULES, *extra])
    forkserver.ensure_running()
    # the runtime (and the plan and steps it imports) loads once the server is under way;
    # the environment is the one the server started with (nothing ran in between)
    from engine.execution.runtime import note_warm_server_env

    note_warm_server_env()
    _keep_our_preload()
    return True


def _keep_our_preload() -> None:
    """Dask sets its own preload list on the forkserver context the first time it asks for
    it, importing NumPy and pandas in the driver to build it; ours is set and the server
    runs, so tell Dask its list is set (if this version of Dask keeps that flag)."""
    utils = sys.modules.get("distributed.utils")
    if utils is not None and hasattr(utils, "_forkserver_preload_set"):
        setattr(utils, "_forkserver_preload_set", True)  # noqa: B010 (private to Dask)


class ClusterStarter:
    """Starts a LocalCluster in a background thread, so that its workers spawn and warm up
    while the driver is busy validating the recipe. ``take`` hands it over if it fits the
    recipe's cluster; ``close`` stops it if nobody took it."""

    def __init__(self, spec: ClusterSpec, *, schema: bool = True):
        self.spec = spec
        start_warm_server(schema=schema)
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


def remote_client(client_cls: Any, spec: ClusterSpec) -> Iterator[Any]:
    if not spec.address:
        raise UserError(
            "cluster.kind is remote but cluster.address is not set",
            key_path="cluster.address",
            hint="pass cluster.address=tcp://HOST:8786 (the address `dask scheduler` prints)",
        )
    schedulers.ensure_allowed(spec.address, "cluster.address")  # before any byte is sent
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
