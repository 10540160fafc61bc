"""Serving that survives a failing model (issue 16), on real servers: with
``deploy.fallback: previous`` the previous version answers when the new one raises while
scoring (the answer, a header, the metrics and ``sous monitor`` say so), a refusal of the
input is no reason to fall back, ``deploy.bento.workers`` starts that many workers, and
``/readyz`` is 503 while the model cannot score its readiness row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from monitor_support import (
    CRASH_AT,
    REFUSE_AT,
    SALT,
    client_rows,
    crashing,
    monitor_cli,
    package_monitored,
)
from serving_support import sous_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """v1 (sound), then v2 (fails on some inputs) packaged with fallback: previous and 2
    workers, served under some traffic."""
    from engine.serving import BentoServer
    from engine.specs import BentoSpec

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_PII_SALT=SALT):
        _, v1, raw = package_monitored()
        _, v2, _ = package_monitored(
            wrap=crashing, fallback="previous", bento=BentoSpec(name="iris", workers=2)
        )
        good = client_rows(raw, 20, seed=1)
        crash = {**good[0], "sepal width (cm)": CRASH_AT + 1}
        refuse = {**good[0], "sepal width (cm)": REFUSE_AT - 1}
        t0 = time.time()
        with BentoServer(v2.bento_tag) as server, httpx.Client(base_url=server.url) as c:
            answers = {
                "good": [c.post("/predict", json=r) for r in good[:5]],
                "crash": [c.post("/predict", json=crash) for _ in range(3)],
                "crash_batch": c.post("/predict_batch", json=[good[1], crash]),
                "refuse": c.post("/predict", json=refuse),
            }
            assert server.proc is not None
            workers = [
                p
                for p in psutil.Process(server.proc.pid).children(recursive=True)
                if "_bentoml_impl.worker.service" in " ".join(p.cmdline())
            ]
            metrics = c.get("/metrics").text
        yield {"v1": v1, "v2": v2, "answers": answers, "workers": len(workers), "t0": t0,
               "metrics": metrics, "home": home}  # fmt: skip


def test_the_previous_version_answers_when_the_new_one_crashes(served: dict[str, Any]) -> None:
    v1, v2, answers = served["v1"].version, served["v2"].version, served["answers"]
    for r in answers["good"]:
        assert r.status_code == 200 and r.json()["model_version"] == v2
        assert r.json()["variant"] == "champion" and "x-sous-fallback" not in r.headers
    for r in [*answers["crash"], answers["crash_batch"]]:
        assert r.status_code == 200, r.text
        body = r.json() if isinstance(r.json(), list) else [r.json()]
        assert {(p["variant"], p["model_version"]) for p in body} == {("fallback", v1)}
        assert r.headers["x-sous-fallback"] == v1
    assert answers["refuse"].status_code == 422  # the input's fault: no fallback


def test_metrics_and_monitor_count_the_fallback_answers(served: dict[str, Any]) -> None:
    v1, v2 = served["v1"].version, served["v2"].version

    def total(variant: str, outcome: str) -> float:
        return sum(
            float(ln.rsplit(" ", 1)[1])
            for ln in served["metrics"].splitlines()
            if ln.startswith("sous_requests_total")
            and f'variant="{variant}"' in ln
            and f'outcome="{outcome}"' in ln
        )

    assert total("champion", "error") == 4 and total("fallback", "fallback") == 4
    with sous_home(served["home"], SOUS_PII_SALT=SALT):
        _, report = monitor_cli("--version", v2, "--since", str(served["t0"] - 1))
    requests = report["requests"]
    assert requests[f"{v1}/fallback"]["fallback"] == 4
    assert requests[f"{v1}/fallback"]["rows"] == 5  # 3 single + a batch of 2
    assert requests[f"{v2}/champion"]["requests"] == 6  # 5 good, 1 refused (422)
    assert requests[f"{v2}/champion"]["errors_4xx"] == 1


def test_deploy_bento_workers_starts_that_many_workers(served: dict[str, Any]) -> None:
    assert served["workers"] == 2


def test_readyz_fails_while_the_model_cannot_score(tmp_path_factory: Any) -> None:
    from engine.serving import BentoServer

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_PII_SALT=SALT):
        _, broken, _ = package_monitored(wrap=lambda est: crashing(est, crash_at=float("-inf")))
        server = BentoServer(broken.bento_tag).start()
        try:
            deadline = time.monotonic() + 90
            live = ready = None
            while time.monotonic() < deadline:
                try:
                    live = httpx.get(server.url + "/livez", timeout=5)
                    ready = httpx.get(server.url + "/readyz", timeout=15)
                except httpx.HTTPError:
                    time.sleep(0.25)
                    continue
                if live.status_code == 200 and ready.status_code == 503:
                    break
                time.sleep(0.25)
            assert live is not None and live.status_code == 200
            assert ready is not None and ready.status_code == 503
            assert "could not score the readiness row (RuntimeError" in ready.json()["error"]
        finally:
            server.stop()
