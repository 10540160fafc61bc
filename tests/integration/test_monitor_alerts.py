"""Alerts: a real local webhook receiver gets the JSON report once per window, from the
library and from `sous monitor` on a real served model whose recipe names the webhook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from monitor_support import (
    SALT,
    client_rows,
    monitor_cli,
    package_monitored,
    send,
    webhook_receiver,
)
from serving_support import sous_home

from engine.monitor.alerts import Alert, deliver
from engine.specs import MonitorAlertsSpec

DRIFT = Alert("feature_drift", "age", "feature 'age' drifted", 0.9, 0.2)
PERF = Alert("performance", "f1", "live f1 dropped", 0.2, 0.05)
REPORT = {"model": "m", "version": "v1", "alerts": [DRIFT.to_json()]}
HOUR = 3600.0
RUN_ID = "20260101-000000-monitor"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_once_per_window_then_again_in_the_next(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with webhook_receiver() as hook:
        spec = MonitorAlertsSpec(webhook=hook["url"])
        first = deliver("m", [DRIFT], REPORT, spec, window_s=HOUR, now=10 * HOUR + 1)
        again = deliver("m", [DRIFT], REPORT, spec, window_s=HOUR, now=10 * HOUR + 1800)
        assert len(hook["posts"]) == 1
        assert hook["posts"][0]["model"] == "m" and hook["posts"][0]["new_alerts"] == [DRIFT.key]
        assert first.new == (DRIFT.key,) and first.webhook_status == 200
        assert again.new == () and again.repeated == (DRIFT.key,)
        # a new alert in the same window goes out; the old one is not repeated with it
        both = deliver("m", [DRIFT, PERF], REPORT, spec, window_s=HOUR, now=10 * HOUR + 1900)
        assert both.new == (PERF.key,) and len(hook["posts"]) == 2
        assert hook["posts"][1]["new_alerts"] == [PERF.key]
        nxt = deliver("m", [DRIFT], REPORT, spec, window_s=HOUR, now=11 * HOUR + 1)
        assert nxt.new == (DRIFT.key,) and len(hook["posts"]) == 3
    err = capsys.readouterr().err
    assert err.count("ALERT m: feature 'age' drifted") == 2


def test_a_failed_webhook_is_retried_by_the_next_check(home: Path) -> None:
    with webhook_receiver(status=500) as hook:
        spec = MonitorAlertsSpec(webhook=hook["url"], log=False)
        failed = deliver("m", [DRIFT], REPORT, spec, window_s=HOUR, now=5.0)
        assert failed.webhook_error == "HTTP 500" and len(hook["posts"]) == 1
        hook["status"] = 204
        ok = deliver("m", [DRIFT], REPORT, spec, window_s=HOUR, now=6.0)
        assert ok.new == (DRIFT.key,) and ok.webhook_error is None and len(hook["posts"]) == 2
        assert deliver("m", [DRIFT], REPORT, spec, window_s=HOUR, now=7.0).new == ()


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A served version whose traffic drifted, produced by a recorded run naming a webhook."""
    from engine.serving import BentoServer

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_PII_SALT=SALT), webhook_receiver() as hook:
        _, packaged, raw = package_monitored(labels={"run_id": RUN_ID})
        _record_run({"monitor": {"window": "1h", "alerts": {"webhook": hook["url"]}}})
        with BentoServer(packaged.bento_tag) as server:
            t0 = time.time()
            send(server.url, client_rows(raw, 300, seed=4, shift=4.0))
        yield {"hook": hook, "since": str(t0 - 1)}


def _record_run(config: dict[str, Any]) -> None:
    """The run record `sous run` keeps: `sous monitor` reads the recipe's monitor section."""
    from engine.home import db_url
    from engine.store.runs import RunsDB

    record = {"run_id": RUN_ID, "recipe": "iris", "status": "succeeded", "config": config,
              "started_at": "2026-01-01T00:00:00", "recipe_file": None}  # fmt: skip
    RunsDB(db_url()).start(record)


def test_sous_monitor_posts_the_report_once_per_window(drifted: dict[str, Any]) -> None:
    hook = drifted["hook"]
    code, first = monitor_cli("--since", drifted["since"])
    assert code == 3 and first["drifted"] == ["petal length (cm)"]
    assert len(hook["posts"]) == 1
    posted = hook["posts"][0]
    assert posted["model"] == "iris" and posted["drifted"] == ["petal length (cm)"]
    assert set(posted["new_alerts"]) == {f"{a['kind']}:{a['subject']}" for a in first["alerts"]}
    assert first["delivery"]["webhook_status"] == 200
    code, second = monitor_cli("--since", drifted["since"])
    assert code == 3  # the condition still holds: the exit code says so every time
    assert len(hook["posts"]) == 1  # ... but the receiver heard it once in this window
    assert second["delivery"]["new"] == [] and second["delivery"]["repeated"]
    code, _ = monitor_cli("--since", drifted["since"], "--no-alerts")
    assert code == 3 and len(hook["posts"]) == 1
