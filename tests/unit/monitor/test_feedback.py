"""Feedback labels: checked, stored, joined on request id, and turned into live metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.drift.feedback import Feedback, FeedbackLog, parse, read_labels
from engine.monitor.performance import evaluate, labelled_rows
from engine.monitor.scan import Window


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param([], "at least one", id="empty"),
        pytest.param({"request_id": "a"}, "exactly request_id and label", id="no-label"),
        pytest.param({"request_id": "a", "label": 1, "x": 2}, "exactly", id="extra"),
        pytest.param({"request_id": 7, "label": 1}, "request_id must be", id="id-type"),
        pytest.param({"request_id": "", "label": 1}, "request_id must be", id="id-empty"),
        pytest.param({"request_id": "a", "label": [1]}, "label must be", id="label-list"),
        pytest.param({"request_id": "a", "label": None}, "label must be", id="label-null"),
        pytest.param([{"request_id": "a", "label": 1}, "x"], "item 1", id="item"),
    ],
)
def test_bad_feedback_says_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(body)


def test_single_and_batch() -> None:
    assert parse({"request_id": "a", "label": "yes"}) == [Feedback("a", "yes")]
    assert parse([{"request_id": "a", "label": 1}, {"request_id": "b", "label": True}]) == [
        Feedback("a", 1),
        Feedback("b", True),
    ]


def test_stored_owner_only_and_the_last_label_wins(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "feedback")
    first = log.write([Feedback("a", "x"), Feedback("b", 2.5)])
    log.write([Feedback("a", "y")])
    assert first is not None and first.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "feedback").stat().st_mode & 0o777 == 0o700
    assert read_labels(tmp_path / "feedback") == {"a": "y", "b": 2.5}
    assert read_labels(tmp_path / "none") == {}


def test_flipped_labels_drop_the_live_metric_and_name_the_slice(
    train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    rows = train.sample(400, random_state=3).reset_index(drop=True)
    d = write_log(rows)
    preds = np.where(rows["plan"] == "basic", "stay", "churn")
    truth = {f"v1-served-{i}": p for i, p in enumerate(preds)}
    frame = labelled_rows(d, Window(version="v1"), truth, ["plan", "age"])
    good = evaluate(frame, reference, slices=True)
    assert good is not None and good.labelled == 400 and good.live["accuracy"] == 1.0
    assert good.drops["accuracy"] == pytest.approx(-0.1)
    flip = {"stay": "churn", "churn": "stay"}
    wrong = {k: (flip[v] if rows["plan"][int(k.rsplit("-", 1)[1])] == "pro" else v)
             for k, v in truth.items()}  # fmt: skip
    bad = evaluate(labelled_rows(d, Window(), wrong, ["plan"]), reference, slices=True)
    assert bad is not None and bad.drops["accuracy"] > 0.05
    assert (bad.slices[0].feature, bad.slices[0].segment, bad.slices[0].value) == (
        "plan",
        "pro",
        0.0,
    )
    assert labelled_rows(d, Window(), {}, []).empty


def test_the_runtime_records_feedback_beside_its_request_log(tmp_path: Path) -> None:
    from engine.serving.runtime.service import SousRuntime

    config = {"name": "m", "features": [], "log_requests": True}
    runtime = SousRuntime(config, {}, log_dir=tmp_path / "serving/m/requests")
    assert runtime.record_feedback([{"request_id": "r1", "label": 1}]) == {"accepted": 1}
    assert read_labels(tmp_path / "serving/m/feedback") == {"r1": 1}
    with pytest.raises(ValueError, match="label"):
        runtime.record_feedback({"request_id": "r1"})
    silent = SousRuntime({**config, "log_requests": False}, {}, log_dir=tmp_path / "x")
    with pytest.raises(ValueError, match="does not log requests"):
        silent.record_feedback({"request_id": "r1", "label": 1})


def test_labels_from_a_recipe_source_join_on_request_id(
    tmp_path: Path, train: pd.DataFrame, reference: Any, write_log: Callable[..., Path]
) -> None:
    from engine.monitor.monitor import source_labels
    from engine.monitor.run import _relative_to
    from engine.recipe.monitor import from_config

    rows = train.sample(300, random_state=4).reset_index(drop=True)
    d = write_log(rows)
    preds = np.where(rows["plan"] == "basic", "stay", "churn")
    wrong = {"stay": "churn", "churn": "stay"}
    pd.DataFrame(
        {"rid": [f"v1-served-{i}" for i in range(len(rows))],
         "truth": [wrong[p] if i % 2 else p for i, p in enumerate(preds)]}
    ).to_csv(tmp_path / "outcomes.csv", index=False)  # fmt: skip
    config = {"monitor": {"labels": {"kind": "csv", "path": "outcomes.csv", "id": "rid",
                                     "label": "truth"}}}  # fmt: skip
    spec = _relative_to(from_config(config), str(tmp_path / "recipe.yaml"))
    assert spec.labels is not None and spec.labels.options["path"].startswith(str(tmp_path))
    labels = source_labels(spec)
    assert len(labels) == 300
    perf = evaluate(labelled_rows(d, Window(), labels, ["plan"]), reference)
    assert perf is not None and perf.labelled == 300
    assert perf.live["accuracy"] == pytest.approx(0.5, abs=0.01)


def test_a_labels_source_without_its_columns_is_a_user_error(tmp_path: Path) -> None:
    from engine.errors import UserError
    from engine.monitor.monitor import source_labels
    from engine.monitor.run import _relative_to
    from engine.recipe.monitor import from_config

    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "o.csv", index=False)
    spec = _relative_to(
        from_config({"monitor": {"labels": {"kind": "csv", "path": "o.csv"}}}),
        str(tmp_path / "r.yaml"),
    )
    with pytest.raises(UserError, match="request_id") as info:
        source_labels(spec)
    assert info.value.key_path == "monitor.labels"
