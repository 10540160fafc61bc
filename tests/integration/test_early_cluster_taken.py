"""The local cluster that starts while a recipe validates is the one the run uses: it is
read by validation's own code, so an adaptive cluster, or a memory limit written as a
number, no longer makes the run stop it and start a second one (issue 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import api

ROOT = Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / "recipes" / "iris.yaml")


def _refuse(*_: Any, **__: Any) -> Any:
    raise AssertionError("the run started a cluster of its own instead of the early one")


@pytest.mark.parametrize(
    "cluster",
    [
        ["cluster.adaptive={minimum: 1, maximum: 2}"],
        ["cluster.memory_limit=2000000000", "cluster.dashboard=false"],
    ],
    ids=["adaptive", "numeric-memory-limit"],
)
def test_the_run_takes_over_the_early_cluster(
    cluster: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.execution import cluster as cluster_module
    from engine.execution import executors

    started: list[Any] = []
    real_init = cluster_module.ClusterStarter.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        started.append(args[0])
        real_init(self, *args, **kwargs)

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cluster_module.ClusterStarter, "__init__", counting_init)
    monkeypatch.setattr(executors, "local_cluster", _refuse)  # the run's own start
    spec, record = api.run_recipe(RECIPE, ["model=logreg", "deploy=none", *cluster])
    assert record["status"] == "succeeded"
    assert started == [spec.cluster]  # one cluster, started early, the one the run asked for
