"""Error rates in the request log: failed and refused requests are logged (status, outcome,
latency, no feature value) and counted per version and variant; drift never sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from engine.monitor.scan import Window, scan
from engine.serving.runtime.outcomes import Failure
from engine.serving.runtime.reqlog import RequestLog

FEATURES = ["age", "income", "plan", "active"]


def _served(log: RequestLog, frame: pd.DataFrame, version: str, **meta: Any) -> None:
    """One request of ``len(frame)`` records answered 200."""
    records = frame[FEATURES].to_dict("records")
    preds = [{"prediction": "stay", "probabilities": None, "request_id": f"r{i}"}
             for i in range(len(records))]  # fmt: skip
    meta = {"endpoint": "predict", "role": "served", "variant": "champion", **meta}
    log.write(records, preds, version=version, latency_ms=4.0, **meta)


def _failed(log: RequestLog, status: int, outcome: str, version: str = "v1") -> None:
    log.write_failure(Failure("predict", status, outcome, 30.0, version, "champion"))


def test_errors_are_logged_without_features_and_counted_apart(
    train: pd.DataFrame, reference: Any, tmp_path: Path
) -> None:
    d = tmp_path / "requests"
    log = RequestLog(d)
    _served(log, train.head(100), "v1")  # one batch request of 100 records
    for i in range(20):
        _served(log, train.iloc[100 + i : 101 + i], "v1")
    for _ in range(3):
        _failed(log, 400, "refused")
    _failed(log, 422, "rejected")
    _failed(log, 500, "error")
    _failed(log, 500, "error")
    _served(log, train.head(5), "v0")
    _failed(log, 401, "refused", version="v0")
    path = log.flush()
    assert path is not None

    table = pq.read_table(path).to_pandas()
    errors = table[table["_status"] >= 400]
    assert len(errors) == 7
    assert errors[FEATURES].isna().all().all()  # no feature value of a failed request
    assert errors["_prediction"].isna().all() and errors["_request_id"].isna().all()
    assert set(errors["_outcome"]) == {"refused", "rejected", "error"}

    live = scan(d, reference, Window(version="v1"))
    assert live.rows == 120  # drift counts the predicted rows of v1 only
    assert all(c.rows == 120 and c.missing == 0 for c in live.features.values())
    assert live.traffic.summary()["champion/served"]["rows"] == 120
    req = live.requests.summary()
    v1 = req["v1/champion"]
    assert (v1["requests"], v1["rows"], v1["errors_4xx"], v1["errors_5xx"]) == (27, 120, 4, 2)
    assert v1["error_rate_4xx"] == 4 / 27 and v1["error_rate_5xx"] == 2 / 27
    assert 4.0 <= v1["p50_ms"] < 5.1 and 30.0 <= v1["p99_ms"] < 38
    v0 = req["v0/champion"]
    assert (v0["requests"], v0["rows"], v0["errors_4xx"], v0["errors_5xx"]) == (2, 5, 1, 0)


def test_a_log_of_errors_only_and_an_old_log_without_statuses(
    train: pd.DataFrame, reference: Any, tmp_path: Path
) -> None:
    d = tmp_path / "requests"
    log = RequestLog(d)
    _failed(log, 503, "overloaded")
    log.flush()
    old = train.head(10)[FEATURES].assign(
        _ts=1e9, _prediction='"stay"', _variant="champion", _role="served", _version="v1",
        _latency_ms=3.0,
    )  # fmt: skip
    old.to_parquet(d / "requests-old.parquet", index=False)
    live = scan(d, reference, Window(version="v1"))
    assert live.rows == 10
    v1 = live.requests.summary()["v1/champion"]
    assert (v1["requests"], v1["rows"], v1["errors_5xx"]) == (11, 10, 1)


def test_shadow_answers_and_fallback_answers_are_told_apart(
    train: pd.DataFrame, reference: Any, tmp_path: Path
) -> None:
    d = tmp_path / "requests"
    log = RequestLog(d)
    _served(log, train.head(3), "v1")
    _served(log, train.head(3), "v2", role="shadow", variant="challenger")
    _served(log, train.head(1), "v0", variant="fallback", outcome="fallback")
    log.flush()
    req = scan(d, reference, Window()).requests.summary()
    assert req["v2/challenger (shadow)"]["requests"] == 1
    assert req["v0/fallback"]["fallback"] == 1 and req["v1/champion"]["fallback"] == 0


def test_a_stream_batch_logs_each_event_as_a_request(
    train: pd.DataFrame, reference: Any, tmp_path: Path
) -> None:
    log = RequestLog(tmp_path / "requests")
    _served(log, train.head(30), "v1", variant="stream", endpoint="stream", one_request=False)
    log.flush()
    req = scan(tmp_path / "requests", reference, Window()).requests.summary()["v1/stream"]
    assert (req["requests"], req["rows"]) == (30, 30)
