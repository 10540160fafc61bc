"""An unchanged rerun of a recipe that asks for a local Dask cluster: everything cached, no
cluster started (not even early, while validating), and the run's report reused with the new
run's id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import api

ROOT = Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / "recipes" / "iris.yaml")


def _refuse(*_: Any, **__: Any) -> Any:
    raise AssertionError("a fully cached rerun started a cluster or drew its report again")


def test_a_fully_cached_rerun_starts_no_cluster_and_reuses_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    _, first = api.run_recipe(RECIPE, ["deploy=none"], executor="sync")
    assert first["status"] == "succeeded"
    assert first["config"]["cluster"]["kind"] == "local"

    from engine import report
    from engine.execution import cluster, executors

    monkeypatch.setattr(cluster, "local_cluster", _refuse)
    monkeypatch.setattr(cluster.ClusterStarter, "__init__", _refuse)
    monkeypatch.setattr(executors, "local_cluster", _refuse, raising=False)
    monkeypatch.setattr(report, "confusion_table", _refuse)  # drawing: the kept page must do
    _, second = api.run_recipe(RECIPE, ["deploy=none"])  # the recipe's own local cluster
    assert second["status"] == "succeeded"
    assert all(s["cached"] for s in second["steps"])
    page = Path(second["report"]).read_text()
    assert second["run_id"] in page and first["run_id"] not in page
    assert len(list((tmp_path / "home" / "reports").glob("*.html"))) == 1
