"""A recipe with a datetime feature, end to end: expanded to calendar parts and epoch seconds
(never one-hot encoded), packaged with the feature typed as an ISO 8601 date-time string,
smoke-tested, served over HTTP, and logged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from e2e_support import env_with, free_port, sous_cmd, wait_ready

from engine import api

pytestmark = pytest.mark.slow

RECIPE = """
name: clock
task: classification
target: label
seed: 3
data:
  sources:
    events: {{kind: csv, path: {events}, parse_dates: [when]}}
split: {{kind: stratified, test_size: 0.2, valid_size: 0.2}}
preprocess:
  datetime: {{parts: [month, dayofweek, hour], epoch: true}}
models:
  logreg: {{_target_: sklearn.linear_model.LogisticRegression, max_iter: 500}}
deploy:
  enabled: true
  target: bento
  promote: staging
  smoke: true
  log_requests: true
  bento: {{name: clock}}
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    """Events whose label is mostly "afternoon (UTC)"; two rows have no time."""
    rng = np.random.default_rng(0)
    n = 400
    seconds = rng.integers(0, 365 * 24 * 3600, n)
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s")
    label = ((when.hour >= 12) ^ (rng.random(n) < 0.05)).astype(int)
    frame = pd.DataFrame(
        {"when": when.strftime("%Y-%m-%d %H:%M:%S"), "amount": rng.normal(size=n), "label": label}
    )
    frame.loc[[3, 50], "when"] = ""
    frame.to_csv(tmp_path / "events.csv", index=False)
    path = tmp_path / "clock.yaml"
    path.write_text(RECIPE.format(events=tmp_path / "events.csv"))
    return path


def _row(when: str | None) -> dict:
    return {"when": when, "amount": 0.1}


def test_datetime_feature_trained_packaged_smoked_and_served(recipe: Path, sous_home: Path):
    record = api.run(api.validate(str(recipe), ["cluster=sync"]))
    assert record["status"] == "succeeded"
    assert record["smoke"]["passed"], record["smoke"]
    assert record["test_metrics"]["accuracy"] > 0.8  # learnt from the hour, not memorised

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        sous_cmd("serve", "clock", "--port", str(port)),
        env=env_with(sous_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(url, proc)
        schema = httpx.get(f"{url}/docs.json", timeout=30).json()
        when = schema["components"]["schemas"]["Record"]["properties"]["when"]
        assert {"type": "string", "format": "date-time"} in when["anyOf"]

        def predict(value: object) -> httpx.Response:
            return httpx.post(f"{url}/predict", json=_row(value), timeout=30)  # type: ignore[arg-type]

        afternoon = predict("2024-03-05T15:30:00Z")
        assert afternoon.status_code == 200, afternoon.text
        assert afternoon.json()["prediction"] == 1
        assert predict("2024-03-05T03:30:00Z").json()["prediction"] == 0
        # the same instant written with another offset is the same input
        same = predict("2024-03-05T09:30:00-06:00").json()
        assert same["probabilities"] == afternoon.json()["probabilities"]
        # a time without an offset is UTC, as in the training data
        assert (
            predict("2024-03-05T15:30:00").json()["probabilities"]
            == (afternoon.json()["probabilities"])
        )
        assert predict(None).status_code == 200  # a missing time is imputed
        for bad in ("next tuesday", 1709652600, "2024-13-45T00:00:00"):
            refused = predict(bad)
            assert refused.status_code == 400, (bad, refused.text)
        batch = httpx.post(
            f"{url}/predict_batch",
            json=[_row("2024-06-01T14:00:00+00:00"), _row("2024-06-01 02:00:00")],
            timeout=30,
        )
        assert batch.status_code == 200, batch.text
        assert [p["prediction"] for p in batch.json()] == [1, 0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # the request log holds the times as UTC timestamps
    files = list((sous_home / "serving" / "clock" / "requests").glob("*.parquet"))
    assert files, "no request log written"
    log = pd.concat(pd.read_parquet(f) for f in files)
    logged = {t for t in log["when"] if not pd.isna(t)}
    assert pd.Timestamp("2024-03-05T15:30:00Z") in logged
    assert pd.Timestamp("2024-06-01T02:00:00Z") in logged
