"""Start a run's local cluster early: while a recipe's slow checks run, the cluster it asks
for comes up (its workers spawn and import meanwhile); the run takes it over, or it is
stopped. What to start is read from the composed recipe by ``engine.recipe.early``."""

from __future__ import annotations

from typing import Any

from engine.execution.cluster import ClusterStarter, profiled
from engine.specs import ClusterSpec


class EarlyCluster:
    """While a recipe's slow checks run, bring up the local cluster it asks for (its
    workers spawn and import meanwhile); the run takes it over, or it is stopped."""

    def __init__(self, executor: str | None, *, profile: bool = False):
        self.allowed = executor in (None, "local")
        self.profile = profile
        self.starter: Any = None

    def start(self, cluster: ClusterSpec | None, *, schema_checks: bool = True) -> None:
        """Start ``cluster`` (None: nothing to start); ``schema_checks``: the recipe declares
        schema checks, so the warm server imports pandera too."""
        if not self.allowed or cluster is None or cluster.kind != "local":
            return
        if self.profile:  # as the run will ask for it
            cluster = profiled(cluster)
        self.starter = ClusterStarter(cluster, schema=schema_checks)

    def close(self) -> None:
        if self.starter is not None:
            self.starter.close()
