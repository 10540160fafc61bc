"""Ground truth on a real served model: every answer carries a request_id, ``POST /feedback``
(same auth as predict) stores labels, and ``sous monitor`` turns them into live metrics, a
performance alert when the labels disagree, and the worst slices."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from monitor_support import FEATURES, NUMERIC, SALT, monitor_cli, package_monitored
from serving_support import sous_home

pytestmark = pytest.mark.slow

TOKEN = "feedback-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _sample(
    raw: pd.DataFrame, n: int, seed: int
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    sample = raw.sample(n, replace=True, random_state=seed)
    body = [
        {k: (float(v) if k in NUMERIC else v) for k, v in r.items()}
        for r in sample[FEATURES].to_dict("records")
    ]
    return body, sample["y"].tolist(), sample["region"].tolist()


def _predict(url: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(0, len(body), 50):
        r = httpx.post(url + "/predict_batch", json=body[i : i + 50], headers=AUTH, timeout=30)
        assert r.status_code == 200, r.text
        out += r.json()
    return out


def _flip(label: str, classes: list[str]) -> str:
    return classes[(classes.index(label) + 1) % len(classes)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Phase 1: true labels sent back. Phase 2: the labels of region 'north' flipped."""
    from engine.serving import BentoServer

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_PII_SALT=SALT, SOUS_FEEDBACK_TOKEN=TOKEN):
        est, packaged, raw = package_monitored(auth_token_env="SOUS_FEEDBACK_TOKEN")
        classes = [str(c) for c in est.classes_]
        with BentoServer(packaged.bento_tag) as server:
            url = server.url
            t0 = time.time()
            body, y, _ = _sample(raw, 200, seed=11)
            answers = _predict(url, body)
            one = {"request_id": answers[0]["request_id"], "label": y[0]}
            first = httpx.post(url + "/feedback", json=one, headers=AUTH)
            many = [
                {"request_id": a["request_id"], "label": t} for a, t in zip(answers, y, strict=True)
            ]
            batch = httpx.post(url + "/feedback", json=many[1:], headers=AUTH)
            t_mid = time.time()
            time.sleep(0.05)
            body, y, regions = _sample(raw, 300, seed=12)
            answers = _predict(url, body)
            labels = [
                {"request_id": a["request_id"], "label": _flip(t, classes) if r == "north" else t}
                for a, t, r in zip(answers, y, regions, strict=True)
            ]
            flipped = httpx.post(url + "/feedback", json=labels, headers=AUTH)
            refusals = {
                "no token": httpx.post(url + "/feedback", json=one),
                "extra key": httpx.post(url + "/feedback", json={**one, "x": 1}, headers=AUTH),
                "no label": httpx.post(url + "/feedback", json={"request_id": "abc"}, headers=AUTH),
                "empty list": httpx.post(url + "/feedback", json=[], headers=AUTH),
                "bad id": httpx.post(
                    url + "/feedback", json={"request_id": 5, "label": "x"}, headers=AUTH
                ),
            }
            t_end = time.time() + 1
        yield {
            "home": home,
            "answers": answers,
            "responses": (first, batch, flipped),
            "refusals": refusals,
            "t": (t0, t_mid, t_end),
            "north": sum(r == "north" for r in regions),
        }


def test_every_answer_carries_a_request_id(served: dict[str, Any]) -> None:
    ids = [a["request_id"] for a in served["answers"]]
    assert all(isinstance(i, str) and len(i) >= 16 for i in ids)
    assert len(set(ids)) == len(ids)
    logged = pd.concat(
        pd.read_parquet(f) for f in (served["home"] / "serving/iris/requests").glob("*.parquet")
    )
    assert set(ids) <= set(logged["_request_id"])


def test_feedback_is_accepted_single_and_batch_and_stored_owner_only(
    served: dict[str, Any],
) -> None:
    first, batch, flipped = served["responses"]
    assert first.status_code == 200 and first.json() == {"accepted": 1}
    assert batch.status_code == 200 and batch.json() == {"accepted": 199}
    assert flipped.status_code == 200 and flipped.json() == {"accepted": 300}
    files = list((served["home"] / "serving/iris/feedback").glob("*.parquet"))
    assert len(files) == 3
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)


def test_bad_feedback_is_refused(served: dict[str, Any]) -> None:
    codes = {k: r.status_code for k, r in served["refusals"].items()}
    assert codes == {
        "no token": 401,
        "extra key": 400,
        "no label": 400,
        "empty list": 400,
        "bad id": 400,
    }


def test_true_labels_give_live_metrics_and_no_alert(served: dict[str, Any]) -> None:
    t0, t_mid, _ = served["t"]
    code, report = monitor_cli("--since", str(t0), "--until", str(t_mid))
    perf = report["performance"]
    assert perf["labelled"] == 200
    assert perf["live"]["accuracy"] > 0.9 and perf["test"]["accuracy"] > 0.9
    assert not [a for a in report["alerts"] if a["kind"] == "performance"]
    assert code == 0


def test_flipped_labels_raise_a_performance_alert_and_show_the_slice(
    served: dict[str, Any],
) -> None:
    _, t_mid, t_end = served["t"]
    code, report = monitor_cli("--since", str(t_mid), "--until", str(t_end), "--slices")
    assert code == 3
    perf = report["performance"]
    assert perf["labelled"] == 300
    assert perf["drops"]["accuracy"] > 0.2
    alerts = {(a["kind"], a["subject"]) for a in report["alerts"]}
    assert ("performance", "accuracy") in alerts
    worst = report["slices"][0]
    assert (worst["feature"], worst["segment"]) == ("region", "north")
    assert worst["value"] < 0.1 and worst["rows"] == served["north"]
