"""Alerts: which findings cross a threshold, once per window, to the log and a webhook.

Dedupe state lives in ``$SOUS_HOME/monitor/NAME/alerts.json`` (alert key -> the window it
was last delivered in); a cron job, ``--watch`` and a human running ``sous monitor`` share it,
under a file lock, so an alert reaches the webhook once per window whoever runs first. The
exit code does not dedupe: it always says whether an alert condition holds now.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.specs import MonitorAlertsSpec

EXIT_ALERT = 3  # `sous monitor` exit code when an alert fired (0 none, 1 failed, 2 user error)
HISTORY_KEEP = 1000  # lines of history kept per model (the HTML report reads them)


@dataclass(frozen=True)
class Alert:
    kind: str  # feature_drift | prediction_drift | performance
    subject: str  # the feature or metric
    message: str
    value: float
    threshold: float

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
        }


def state_dir(name: str) -> Path:
    from engine.home import sous_home

    d = sous_home() / "monitor" / name
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    with open(path.with_suffix(".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(value, sort_keys=True))
    tmp.replace(path)


@dataclass(frozen=True)
class Delivery:
    """What happened to this check's alerts: new (delivered now) or already sent."""

    new: tuple[str, ...]
    repeated: tuple[str, ...]
    webhook_status: int | None = None
    webhook_error: str | None = None


def deliver(
    name: str,
    alerts: Sequence[Alert],
    report: Mapping[str, Any],
    spec: MonitorAlertsSpec,
    *,
    window_s: float,
    now: float | None = None,
) -> Delivery:
    """Send the alerts not yet sent in the current window; record the rest as repeats."""
    now = time.time() if now is None else now
    window = int(now // max(window_s, 1.0))
    path = state_dir(name) / "alerts.json"
    with _locked(path):
        state = json.loads(path.read_text()) if path.exists() else {}
        sent: dict[str, int] = dict(state.get("sent", {}))
        new = [a for a in alerts if sent.get(a.key) != window]
        repeated = tuple(a.key for a in alerts if sent.get(a.key) == window)
        if not new:
            return Delivery((), repeated)
        if spec.log:
            for a in new:
                print(f"ALERT {name}: {a.message}", file=sys.stderr)
        status, error = None, None
        if spec.webhook:
            status, error = post(spec.webhook, {**report, "new_alerts": [a.key for a in new]},
                                 spec.timeout_s)  # fmt: skip
            if error is not None:
                print(f"warning: webhook {spec.webhook} failed: {error}", file=sys.stderr)
        if error is None:  # a failed webhook is retried by the next check
            sent.update({a.key: window for a in new})
            _write_json(path, {"sent": sent})
        return Delivery(tuple(a.key for a in new), repeated, status, error)


def post(url: str, payload: Mapping[str, Any], timeout_s: float) -> tuple[int | None, str | None]:
    """POST ``payload`` as JSON; (status, None) or (None/status, error)."""
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        return None, f"only http(s) webhooks are supported, got {url.split(':', 1)[0]!r}"
    body = json.dumps(payload, default=str).encode()
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # http(s) only, checked above
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code), f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return None, str(exc)
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def append_history(name: str, entry: Mapping[str, Any]) -> None:
    """One line per check (time, version, rows, drifted, metrics, alerts) for the report."""
    path = state_dir(name) / "history.jsonl"
    with _locked(path):
        lines = path.read_text().splitlines() if path.exists() else []
        lines = [*lines[-(HISTORY_KEEP - 1) :], json.dumps(entry, sort_keys=True, default=str)]
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        path.with_suffix(".tmp").replace(path)


def history(name: str) -> list[dict[str, Any]]:
    path = state_dir(name) / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
