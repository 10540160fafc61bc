"""`sous monitor --compare` on a real shadow deployment: the challenger answers every request
beside the champion; agreement, latency and live metrics of both from the same labels."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from monitor_support import FEATURES, NUMERIC, SALT, monitor_cli, package_monitored
from serving_support import sous_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from engine.serving import BentoServer, Experiment, package_experiment

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_PII_SALT=SALT):
        _, champion, raw = package_monitored()
        _, challenger, _ = package_monitored(c=0.02)  # a weaker model: it disagrees at times
        exp = package_experiment(
            "iris", Experiment(champion.version, challenger.version, mode="shadow")
        )
        sample = raw.sample(120, replace=True, random_state=21)
        body = [
            {k: (float(v) if k in NUMERIC else v) for k, v in r.items()}
            for r in sample[FEATURES].to_dict("records")
        ]
        with BentoServer(exp.bento_tag) as server:
            t0 = time.time()
            answers = httpx.post(server.url + "/predict_batch", json=body, timeout=60).json()
            labels = [
                {"request_id": a["request_id"], "label": y}
                for a, y in zip(answers, sample["y"], strict=True)
            ]
            assert httpx.post(server.url + "/feedback", json=labels).status_code == 200
            time.sleep(1.0)  # the shadow answers are logged after the champion's
        yield {"t0": t0, "champion": champion.version, "challenger": challenger.version}


def test_compare_reports_agreement_latency_and_live_metrics(shadowed: dict[str, Any]) -> None:
    code, report = monitor_cli("--since", str(shadowed["t0"] - 1), "--compare")
    assert code in (0, 3)
    cmp = report["compare"]
    assert cmp["versions"] == {
        "champion": shadowed["champion"],
        "challenger": shadowed["challenger"],
    }
    assert cmp["paired"] == 120
    assert 0.5 < cmp["agreement"] < 1.0
    assert cmp["traffic"]["champion/served"]["rows"] == 120
    assert cmp["traffic"]["challenger/shadow"]["rows"] == 120
    live = cmp["live"]
    assert live["champion"]["labelled"] == live["challenger"]["labelled"] == 120
    assert live["champion"]["accuracy"] > live["challenger"]["accuracy"]


def test_without_a_challenger_compare_says_so(shadowed: dict[str, Any]) -> None:
    _, report = monitor_cli("--since", str(shadowed["t0"] + 3600), "--compare")
    assert "no challenger traffic" in report["compare"]["note"]
