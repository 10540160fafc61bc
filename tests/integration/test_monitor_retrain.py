"""Retraining: drift in a version's request log fires `monitor.on_alert: retrain`, which
reruns the recipe on the (shifted) fresh data through the gates (relative to production) and
the smoke test, and promotes the challenger to staging; `sous retrain` reuses cached steps."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SHIFTED = "petal_length"
RECIPE = """
defaults:
  - /split: stratified
  - /deploy: bento
  - _self_
name: flowers
task: classification
target: species
seed: 3
data:
  sources:
    flowers: {kind: csv, path: flowers.csv}
preprocess:
  numeric: {impute: median, scale: standard}
models:
  logreg: {_target_: sklearn.linear_model.LogisticRegression, C: 1.0, max_iter: 500}
select:
  metric: f1
  gates: {f1: ">= production - 0.5"}
deploy:
  promote: production
  log_requests: true
cluster: {kind: sync}
monitor:
  window: 1h
  min_samples: 50
  on_alert: retrain
"""


def _flowers(shift: float = 0.0) -> Any:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True, as_frame=True)
    frame = x.set_axis(["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1)
    frame[SHIFTED] = frame[SHIFTED] + shift
    frame["species"] = [["setosa", "versicolor", "virginica"][i] for i in y]
    return frame


def _cli(*argv: str) -> tuple[int, dict[str, Any]]:
    from engine.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, json.loads(out.getvalue())


def test_drift_retrains_through_gates_and_smoke_to_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import api
    from engine.serving.runtime.reqlog import RequestLog
    from engine.store.registry import get_alias

    home = tmp_path / "home"
    monkeypatch.setenv("SOUS_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    recipe = tmp_path / "flowers.yaml"
    recipe.write_text(RECIPE)
    data = tmp_path / "flowers.csv"
    _flowers().to_csv(data, index=False)
    first = api.run(api.validate(str(recipe)))
    v1 = first["model_version"]
    assert get_alias("flowers", "production") == v1

    # The world moved: served traffic and the fresh training data are shifted by 2 std.
    two_std = 2 * float(_flowers()[SHIFTED].std())
    shifted = _flowers(two_std)
    shifted.to_csv(data, index=False)
    log = RequestLog(home / "serving" / "flowers" / "requests")  # as the server writes it
    rows = shifted.drop(columns="species").sample(200, random_state=1, replace=True)
    answers = [{"prediction": "virginica", "probabilities": None, "request_id": str(i)}
               for i in range(len(rows))]  # fmt: skip
    meta = {"endpoint": "predict_batch", "role": "served", "variant": "champion"}
    log.write(rows.to_dict("records"), answers, version=v1, latency_ms=3.0, **meta)
    log.flush()

    code, report = _cli("monitor", "flowers", "--json")
    assert code == 3 and SHIFTED in report["drifted"]
    retrained = report["retrain"]
    assert retrained["status"] == "succeeded", retrained
    v2 = retrained["model_version"]
    assert v2 != v1 and retrained["promoted"] == "staging"
    assert get_alias("flowers", "staging") == v2
    assert get_alias("flowers", "production") == v1  # production is a human's call

    code, record = _cli("runs", "show", retrained["run_id"], "--json")
    assert record["gate"]["passed"] and record["gate"]["production"] == v1
    assert record["smoke"]["passed"]
    assert record["retrain_of"]["model"] == "flowers" and record["retrain_of"]["version"] == v1
    assert record["drift_report"] == retrained["drift_report"]
    assert "Drift report: flowers:" in Path(record["drift_report"]).read_text()
    loads = [s for s in record["steps"] if s["name"].startswith("load:")]
    assert loads and not any(s["cached"] for s in loads)  # fresh data, fingerprinted again

    # Once per window: the same drift does not retrain again.
    code, again = _cli("monitor", "flowers", "--json", "--version", v1)
    assert code == 3 and "retrain" not in again

    # `sous retrain` by hand: the data did not change since, so cached steps are reused.
    code, manual = _cli("retrain", "flowers", "--version", v2, "--json")
    assert code == 0 and manual["status"] == "succeeded"
    assert all(s["cached"] for s in manual["steps"] if s["name"].startswith(("load:", "fit")))
    assert manual["bento"] == record["bento"]
