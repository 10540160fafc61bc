"""Hydra launcher that runs the jobs of a multirun as parallel tasks on a Dask cluster.

Select it with ``hydra/launcher=dask``; see ``docs/sweeps.md``.
"""

from hydra_plugins.sous_dask_launcher.dask_launcher import DaskLauncher

__all__ = ["DaskLauncher"]
