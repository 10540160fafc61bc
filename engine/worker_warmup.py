"""Dask worker preload: import the libraries every step needs while the worker starts.

Listed in ``preload`` of the LocalCluster Sous starts, so the first task on each worker does
not pay for the imports; for a cluster you start yourself, pass
``dask worker --preload engine.worker_warmup``. pandera (about a second, with hypothesis when
installed) is not here: the validate step needs it only for a recipe that declares checks,
and the warm server imports it then (``engine.execution.cluster.SCHEMA_MODULES``).
"""

import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import sklearn.compose
import sklearn.ensemble
import sklearn.metrics
import sklearn.pipeline  # noqa: F401


def dask_setup(worker: object) -> None:
    """Called in each worker as it starts (Dask's preload hook). A worker forked from the warm
    server inherited the server's environment: drop the variables the driver has unset since
    (``SOUS_ENV_UNSET``, see :func:`engine.execution.runtime.worker_env`), before any task
    reads them (a signing key the driver no longer holds must not sign the worker's entries)."""
    import os

    for name in os.environ.pop("SOUS_ENV_UNSET", "").split("\n"):
        if name:
            os.environ.pop(name, None)
