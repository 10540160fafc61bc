"""The Dask dashboard a run links to answers: bokeh is a dependency (issue 15)."""

from __future__ import annotations

import httpx

from engine.execution.cluster import local_cluster
from engine.specs import ClusterSpec


def test_dashboard_status_page_answers_on_a_local_cluster() -> None:
    cluster = local_cluster(ClusterSpec(workers=1), warm=False)
    try:
        link = cluster.dashboard_link
        assert link.startswith("http://127.0.0.1:")
        answer = httpx.get(link, timeout=30, follow_redirects=True)
        assert answer.status_code == 200
        assert "bokeh" in answer.text.lower()
    finally:
        cluster.close()
