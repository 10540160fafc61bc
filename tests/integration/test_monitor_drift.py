"""Drift of a real served model: its request log, replayed from the training data, then with
one feature shifted by two standard deviations, read back by ``sous monitor``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from monitor_support import (
    NUMERIC,
    SALT,
    SHIFTED,
    client_rows,
    monitor_cli,
    package_monitored,
    send,
)
from serving_support import sous_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two phases of real traffic: as in training, then one feature shifted by 2 std."""
    from engine.serving import BentoServer

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_PII_SALT=SALT):
        _, packaged, raw = package_monitored()
        two_std = 2 * float(raw[SHIFTED].std())
        with BentoServer(packaged.bento_tag) as server:
            t0 = time.time()
            send(server.url, client_rows(raw, 400, seed=1))
            t_mid = time.time()
            time.sleep(0.05)
            send(server.url, client_rows(raw, 400, seed=2, shift=two_std))
            t_end = time.time() + 1
            metrics = httpx.get(server.url + "/metrics").text
        yield {
            "home": home,
            "packaged": packaged,
            "raw": raw,
            "t": (t0, t_mid, t_end),
            "metrics": metrics,
        }


def test_reference_is_kept_with_the_version_bounded_and_pii_free(traffic: dict[str, Any]) -> None:
    from engine.drift.reference import REFERENCE_FILE
    from engine.serving.packaging import model_info

    path = model_info(traffic["packaged"].model_tag).path_of(REFERENCE_FILE)
    with open(path) as fh:
        text = fh.read()
    assert len(text) < 64_000
    ref = json.loads(text)
    assert set(ref["features"]) == {*NUMERIC, "region"} and ref["skipped"] == ["email"]
    assert ref["prediction"]["categories"] and ref["metrics"]["accuracy"] > 0.9
    assert "@example.org" not in text


def test_rows_drawn_from_training_data_show_no_drift(traffic: dict[str, Any]) -> None:
    t0, t_mid, _ = traffic["t"]
    code, report = monitor_cli("--since", str(t0), "--until", str(t_mid))
    assert code == 0, report["alerts"]
    assert report["model"] == "iris" and report["version"] == traffic["packaged"].version
    assert report["n"] == 400
    assert report["drifted"] == [] and report["alerts"] == []
    assert set(report["features"]) == {*NUMERIC, "region"}
    for name, f in report["features"].items():
        assert set(f) >= {"score", "pvalue", "drifted", "method"}
        assert f["method"] == ("chi2" if name == "region" else "ks")
        assert f["out_of_schema"] == 0
    assert report["prediction_drift"]["drifted"] is False
    assert report["traffic"]["champion/served"]["rows"] == 400


def test_one_feature_shifted_two_std_is_the_only_one_flagged(traffic: dict[str, Any]) -> None:
    _, t_mid, t_end = traffic["t"]
    code, report = monitor_cli("--since", str(t_mid), "--until", str(t_end))
    assert code == 3  # the documented "an alert fired" exit code
    assert report["n"] == 400
    assert report["drifted"] == [SHIFTED]
    assert report["features"][SHIFTED]["score"] > 1.0
    assert report["features"][SHIFTED]["pvalue"] < 1e-6
    kinds = {(a["kind"], a["subject"]) for a in report["alerts"]}
    assert ("feature_drift", SHIFTED) in kinds
    assert not {s for k, s in kinds if k == "feature_drift"} - {SHIFTED}


def test_no_raw_pii_in_any_report(traffic: dict[str, Any], tmp_path: Any) -> None:
    from engine.data.pii import hash_value

    html = tmp_path / "drift.html"
    _, report = monitor_cli("--since", str(traffic["t"][0]), "--html", str(html))
    text = json.dumps(report) + html.read_text()
    hashed = {hash_value(f"user{i}@example.org", SALT.encode()) for i in range(7)}
    assert "@example.org" not in text
    assert not any(h in text for h in hashed)
    assert "<script src" not in html.read_text() and "http" not in html.read_text().split(
        "<body", 1
    )[1].replace("http-equiv", "")


def _gauge(metrics: str, name: str, **labels: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in /metrics")


def test_the_server_exports_rolling_drift_gauges(traffic: dict[str, Any]) -> None:
    metrics, version = traffic["metrics"], traffic["packaged"].version
    labels = {"model": "iris", "version": version, "variant": "champion"}
    shifted = _gauge(metrics, "sous_feature_drift_psi", feature=SHIFTED, **labels)
    assert shifted > 0.5  # half of its window is shifted by two std
    for name in NUMERIC:
        if name != SHIFTED:
            assert _gauge(metrics, "sous_feature_drift_psi", feature=name, **labels) < 0.2
    shares = [
        _gauge(metrics, "sous_prediction_share", cls=c, **labels)
        for c in ("setosa", "versicolor", "virginica")
    ]
    assert sum(shares) == pytest.approx(1.0)


@pytest.mark.parametrize("stop_signal", ["SIGINT", "SIGTERM"])
def test_watch_checks_again_every_interval(traffic: dict[str, Any], stop_signal: str) -> None:
    """`sous monitor --watch` as a real process: one report per interval until stopped by
    Ctrl-C or SIGTERM (a check in progress finishes first)."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "SOUS_HOME": str(traffic["home"]), "SOUS_PII_SALT": SALT}
    since = str(traffic["t"][0])
    cmd = [sys.executable, "-m", "engine", "monitor", "iris", "--json", "--no-alerts",
           "--since", since, "--watch", "--interval", "1s"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, start_new_session=True)
    try:
        assert proc.stdout is not None
        reports = [json.loads(proc.stdout.readline()) for _ in range(2)]
    finally:
        os.killpg(proc.pid, getattr(signal, stop_signal))
        proc.wait(timeout=60)
    assert [r["n"] for r in reports] == [800, 800]
    assert all(r["drifted"] == [SHIFTED] for r in reports)
    assert proc.returncode == 3  # the last check's code: an alert condition held
