"""Error rates from a real server's request log: good, refused (4xx) and failed (5xx)
requests are logged (the failed ones with no feature value) and ``sous monitor`` reports
requests, 4xx and 5xx rates and latency per version and variant, in JSON, text and HTML."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
from monitor_support import CRASH_AT, REFUSE_AT, SALT, client_rows, crashing, package_monitored
from serving_support import sous_home

pytestmark = pytest.mark.slow

MARKER = "do-not-log-me-7f3a"  # sent only in refused bodies: must never reach the disk


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from engine.serving import BentoServer

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_PII_SALT=SALT):
        _, packaged, raw = package_monitored(wrap=crashing)
        good = client_rows(raw, 50, seed=1)
        statuses: list[int] = []
        t0 = time.time()
        with BentoServer(packaged.bento_tag) as server, httpx.Client(base_url=server.url) as c:
            for row in good[:30]:
                statuses.append(c.post("/predict", json=row).status_code)
            statuses.append(c.post("/predict_batch", json=good[30:]).status_code)
            bad = [
                c.post("/predict", content=b'{"sepal length (cm)": ', headers=_json()),
                c.post("/predict", json={**good[0], "extra": MARKER}),
                c.post("/predict", json={**good[0], "region": 3.5, "email": MARKER}),
                c.post("/predict", content=MARKER.encode(), headers={"content-type": "text/csv"}),
                c.get("/predict"),
            ]
            statuses += [r.status_code for r in bad]
            for width, n in ((REFUSE_AT - 1, 2), (CRASH_AT + 1, 3)):
                for _ in range(n):
                    row = {**good[1], "sepal width (cm)": width, "email": MARKER}
                    statuses.append(c.post("/predict", json=row).status_code)
            metrics = c.get("/metrics").text
        yield {"home": home, "packaged": packaged, "statuses": statuses, "t0": t0,
               "metrics": metrics}  # fmt: skip


def _json() -> dict[str, str]:
    return {"content-type": "application/json"}


def _monitor(*args: str) -> tuple[int, str]:
    from engine.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["monitor", "iris", *args])
    return code, out.getvalue()


def test_the_client_saw_what_the_log_will_count(served: dict[str, Any]) -> None:
    assert served["statuses"] == [200] * 31 + [400, 400, 400, 400, 405, 422, 422] + [500] * 3


def test_monitor_reports_requests_and_error_rates_per_version(served: dict[str, Any]) -> None:
    version = served["packaged"].version
    code, out = _monitor("--json", "--since", str(served["t0"] - 1))
    assert code in (0, 3)
    report = json.loads(out)
    assert report["n"] == 50  # drift compares the predicted rows only
    req = report["requests"][f"{version}/champion"]
    assert (req["requests"], req["rows"]) == (41, 50)
    assert (req["errors_4xx"], req["errors_5xx"]) == (7, 3)
    assert req["error_rate_4xx"] == pytest.approx(7 / 41)
    assert req["error_rate_5xx"] == pytest.approx(3 / 41)
    assert 0 < req["p50_ms"] <= req["p95_ms"] <= req["p99_ms"]
    assert list(report["requests"]) == [f"{version}/champion"]

    _, text = _monitor("--since", str(served["t0"] - 1))
    assert f"requests {version}/champion: 41 (50 rows predicted), 4xx 17.1%, 5xx 7.3%" in text


def test_failed_requests_leave_no_value_on_disk_or_in_reports(
    served: dict[str, Any], tmp_path: Path
) -> None:
    import pandas as pd

    logs = list((served["home"] / "serving" / "iris" / "requests").glob("*.parquet"))
    assert logs
    for path in logs:
        assert MARKER.encode() not in path.read_bytes()
    frame = pd.concat([pd.read_parquet(p) for p in logs])
    failed = frame[frame["_status"] >= 400]
    assert len(failed) == 10
    assert sorted(failed["_outcome"].unique()) == ["error", "refused", "rejected"]
    features = [c for c in frame.columns if not c.startswith("_")]
    assert failed[features].isna().all().all()
    html = tmp_path / "report.html"
    _monitor("--since", str(served["t0"] - 1), "--html", str(html))
    assert "<h2>Traffic</h2>" in html.read_text() and MARKER not in html.read_text()


def test_refusals_are_counted_in_the_metrics_too(served: dict[str, Any]) -> None:
    lines = [ln for ln in served["metrics"].splitlines() if ln.startswith("sous_requests_total")]
    by_outcome: dict[str, float] = {}
    for ln in lines:
        outcome = ln.split('outcome="')[1].split('"')[0]
        by_outcome[outcome] = by_outcome.get(outcome, 0) + float(ln.rsplit(" ", 1)[1])
    assert by_outcome == {"ok": 31, "refused": 5, "rejected": 2, "error": 3}
