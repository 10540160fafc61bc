"""Start a run's local cluster early: while a recipe's slow checks run, the cluster it asks
for comes up (its workers spawn and import meanwhile); the run takes it over, or it is
stopped. Reads the composed config (before validation) only for the cluster section."""

from __future__ import annotations

from typing import Any

from engine.execution.cluster import ClusterStarter
from engine.specs import ClusterSpec, dashboard_setting, frozen_map


class EarlyCluster:
    """While a recipe's slow checks run, bring up the local cluster it asks for (its
    workers spawn and import meanwhile); the run takes it over, or it is stopped."""

    def __init__(self, executor: str | None, *, profile: bool = False):
        self.allowed = executor in (None, "local")
        self.profile = profile
        self.starter: Any = None

    def start(self, cfg: Any) -> None:
        cluster = cfg.get("cluster") or {}
        if not self.allowed or (cluster.get("kind") or "local") != "local":
            return
        dashboard = dashboard_setting(cluster.get("dashboard"))
        if dashboard is None:
            return  # validation reports it
        try:
            spec = ClusterSpec(
                workers=int(cluster.get("workers", ClusterSpec.workers)),
                threads_per_worker=int(
                    cluster.get("threads_per_worker", ClusterSpec.threads_per_worker)
                ),
                memory_limit=cluster.get("memory_limit"),
                resources=frozen_map(dict(cluster.get("resources") or {})),
                dashboard="on" if self.profile else dashboard,
            )
        except (TypeError, ValueError):
            return  # validation reports it
        self.starter = ClusterStarter(spec, schema=_declares_checks(cfg.get("schema")))

    def close(self) -> None:
        if self.starter is not None:
            self.starter.close()


def _declares_checks(schema: Any) -> bool:
    """Whether the composed recipe's ``schema`` (unvalidated) may ask for pandera's checks:
    as :attr:`engine.specs.SchemaSpec.checks_anything` reads the validated one; anything
    unreadable counts as yes (the workers then import it ahead, as before)."""
    if schema is None:
        return False
    try:
        return any(schema.get(key) for key in ("columns", "checks", "strict", "pandera_yaml"))
    except (AttributeError, TypeError):
        return True
