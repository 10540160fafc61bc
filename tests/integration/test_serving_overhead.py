"""What a served prediction request no longer pays for (issue 16), on a real ``bentoml serve``:
no OpenTelemetry span without an exporter, no BentoML access line when Sous's request log
already records the request; tracing and the access line stay for every other path, and
every answer still reaches the request log and the metrics."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from serving_support import package_iris, rows, sous_home

from engine.serving import BentoServer

pytestmark = pytest.mark.slow


def _access_lines(server: BentoServer, path: str) -> int:
    log_path = server.log_path
    assert log_path is not None
    text = Path(log_path).read_text(errors="replace")
    return sum(1 for line in text.splitlines() if f"path={path}," in line)


@pytest.mark.parametrize(
    ("log_requests", "exporter"),
    [(False, None), (True, None), (False, "in_memory")],
    ids=["no-request-log", "request-log", "tracing-exporter"],
)
def test_prediction_paths_skip_idle_tracing_and_the_duplicate_access_line(
    tmp_path: Path, log_requests: bool, exporter: str | None
) -> None:
    with sous_home(tmp_path / "home"):
        _, packaged = package_iris(log_requests=log_requests)
        env = {"BENTOML_CONFIG_OPTIONS": f"tracing.exporter_type={exporter}"} if exporter else {}
        with BentoServer(packaged.bento_tag, env=env) as server:
            answers = [httpx.post(server.url + "/predict", json=r) for r in rows(5)]
            batch = httpx.post(server.url + "/predict_batch", json=rows(3))
            other = httpx.get(server.url + "/docs.json")
            time.sleep(0.5)  # the access log line is written after the answer
            predict_lines = _access_lines(server, "/predict")
            other_lines = _access_lines(server, "/docs.json")
            metrics = httpx.get(server.url + "/metrics").text
            server.stop()  # flushes the request log
    assert all(a.status_code == 200 for a in answers) and batch.status_code == 200
    # BentoML's request-id header comes from the span: there only when an exporter is set
    assert all(("x-bentoml-request-id" in a.headers) is bool(exporter) for a in answers)
    assert other.status_code == 200
    assert other_lines == 1  # BentoML's access log still runs for other paths
    assert (predict_lines == 0) is log_requests  # only Sous's request log records those
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("sous_requests_total") and 'endpoint="predict"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 5  # Sous's metrics still count
    if log_requests:
        import pandas as pd

        files = list((tmp_path / "home" / "serving" / "iris" / "requests").glob("*.parquet"))
        logged = pd.concat(pd.read_parquet(f) for f in files)
        assert int(logged["_req"].sum()) == 6  # 5 single requests and 1 batch
