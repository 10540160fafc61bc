"""Encryption at rest of the request log and the feedback: with a key set, files are sealed
(no logged value in plaintext on disk) and monitoring reads them the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engine.monitor.scan import Window, scan
from engine.serving.runtime.outcomes import Failure
from engine.serving.runtime.reqlog import RequestLog

FEATURES = ["age", "income", "plan", "active"]
MARKER = "plan-marker-5e1d"


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    from cryptography.fernet import Fernet

    value = Fernet.generate_key().decode()
    monkeypatch.setenv("SOUS_ENCRYPTION_KEY", value)
    return value


def _write(d: Path, frame: pd.DataFrame) -> list[Path]:
    log = RequestLog(d)
    records = frame[FEATURES].to_dict("records")
    preds = [{"prediction": "stay", "probabilities": None, "request_id": f"r{i}"}
             for i in range(len(records))]  # fmt: skip
    log.write(records, preds, endpoint="predict", role="served", variant="champion",
              version="v1", latency_ms=3.0)  # fmt: skip
    log.write_failure(Failure("predict", 400, "refused", 2.0, "v1", "champion"))
    path = log.flush()
    assert path is not None
    return [path]


def test_sealed_log_holds_no_plain_value_and_scans_the_same(
    train: pd.DataFrame, reference: Any, tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.security import at_rest

    frame = train.head(300).copy()
    frame.loc[:9, "plan"] = MARKER
    sealed = _write(tmp_path / "sealed", frame)
    data = sealed[0].read_bytes()
    assert at_rest.is_sealed(data) and MARKER.encode() not in data
    assert b"PAR1" not in data  # not a parquet file in clear
    assert sealed[0].stat().st_mode & 0o777 == 0o600
    live = scan(tmp_path / "sealed", reference, Window(version="v1"))

    monkeypatch.delenv("SOUS_ENCRYPTION_KEY")
    plain = _write(tmp_path / "plain", frame)
    assert MARKER.encode() in plain[0].read_bytes()  # the test would see a plain value
    same = scan(tmp_path / "plain", reference, Window(version="v1"))
    assert live.rows == same.rows == 300
    assert {k: c.counts.tolist() for k, c in live.features.items()} == {
        k: c.counts.tolist() for k, c in same.features.items()
    }
    assert live.requests.summary() == same.requests.summary()

    from engine.errors import UserError

    with pytest.raises(UserError, match="encrypted"):  # without the key: a one-line error
        scan(tmp_path / "sealed", reference, Window(version="v1"))


def test_sealed_feedback_round_trips(tmp_path: Path, key: str) -> None:
    from engine.drift.feedback import Feedback, FeedbackLog, read_labels

    path = FeedbackLog(tmp_path / "feedback").write([Feedback("r1", MARKER), Feedback("r2", 1)])
    assert path is not None and MARKER.encode() not in path.read_bytes()
    FeedbackLog(tmp_path / "feedback").write([Feedback("r2", 0)])
    assert read_labels(tmp_path / "feedback") == {"r1": MARKER, "r2": 0}
