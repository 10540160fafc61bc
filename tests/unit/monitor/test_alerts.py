"""Alerts reach the log and a real webhook receiver once per window."""

from __future__ import annotations

import pytest

from engine.monitor.alerts import Alert, append_history, deliver, history, post
from engine.specs import MonitorAlertsSpec

DRIFT = Alert("feature_drift", "age", "feature 'age' drifted", 0.9, 0.2)
PERF = Alert("performance", "f1", "live f1 dropped", 0.2, 0.05)
REPORT = {"model": "m", "version": "v1", "alerts": [DRIFT.to_json()]}
HOUR = 3600.0


def test_models_keep_separate_state() -> None:
    spec = MonitorAlertsSpec(log=False)
    assert deliver("a", [DRIFT], REPORT, spec, window_s=HOUR, now=1.0).new == (DRIFT.key,)
    assert deliver("b", [DRIFT], REPORT, spec, window_s=HOUR, now=1.0).new == (DRIFT.key,)


def test_only_http_webhooks_and_unreachable_ones_fail_cleanly() -> None:
    assert post("file:///etc/passwd", {}, 1.0)[1] is not None
    status, error = post("http://127.0.0.1:9/nothing", {}, 1.0)
    assert status is None and error


def test_history_is_appended_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.monitor import alerts

    monkeypatch.setattr(alerts, "HISTORY_KEEP", 5)
    for i in range(8):
        append_history("m", {"at": i, "alerts": []})
    assert [h["at"] for h in history("m")] == [3, 4, 5, 6, 7]
