"""A classifier's curves are computed where it is scored and kept with its evaluation: the
report and the UI draw them, and drawing them imports no scikit-learn (issue 10)."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from engine import curves
from engine.report import render_report
from engine.steps.train import evaluate


def _scored(n_classes: int, rows: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, n_classes, rows)
    score = rng.dirichlet(np.ones(n_classes), rows)
    score[np.arange(rows), y] += 0.5  # informative: the true class scores higher
    score /= score.sum(axis=1, keepdims=True)
    return y, score.argmax(axis=1), score


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_one_curve_per_class_the_positive_one_alone_when_binary(n_classes: int) -> None:
    y, pred, score = _scored(n_classes)
    drawn = curves.classifier_curves(y, pred, score, tuple(range(n_classes)))
    wanted = ["1"] if n_classes == 2 else [str(k) for k in range(n_classes)]
    assert [c.label for c in drawn.classes] == wanted
    for c in drawn.classes:
        truth = y == int(c.label)
        assert c.rate == pytest.approx(truth.mean())
        fpr, tpr = c.roc  # the area under the kept ROC is scikit-learn's AUC
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        assert area == pytest.approx(roc_auc_score(truth, score[:, int(c.label)]))
        recall, _ = c.pr
        assert np.all(np.diff(recall) >= 0)  # drawn left to right
        mean, fraction = c.calibration
        assert len(mean) == len(fraction) and np.all((fraction >= 0) & (fraction <= 1))


def test_confusion_counts_follow_the_labels_order() -> None:
    y = np.array(["b", "a", "b", "c", "a"])
    pred = np.array(["b", "b", "b", "c", "a"])
    drawn = curves.classifier_curves(y, pred, None, ("c", "b", "a"))
    # rows: true c, b, a; columns: predicted c, b, a
    assert drawn.confusion.tolist() == [[1, 0, 0], [0, 2, 0], [0, 1, 1]]
    assert drawn.classes == ()  # no probabilities, no curves
    assert int(drawn.confusion.sum()) == len(y)


def test_a_class_no_row_has_gets_no_curve() -> None:
    y, pred, score = _scored(3)
    y = np.where(y == 2, 0, y)  # class 2 never true: its ROC is undefined
    drawn = curves.classifier_curves(y, pred, score, (0, 1, 2))
    assert [c.label for c in drawn.classes] == ["0", "1"]


def _evaluation() -> object:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(240, 3)), columns=["a", "b", "c"])
    frame["y"] = np.where(frame.a + rng.normal(0, 0.5, 240) > 0, "yes", "no")
    model = LogisticRegression().fit(frame[["a", "b", "c"]], frame.y)
    idx = np.arange(240)
    return evaluate(model, frame, idx, target="y", task="classification", features=["a", "b", "c"])


def test_the_evaluation_keeps_the_curves_the_report_would_compute() -> None:
    ev = _evaluation()
    assert isinstance(ev.curves, curves.ClassifierCurves)
    without = dataclasses.replace(ev, curves=None)  # as cached by an older Sous
    assert render_report(ev) == render_report(without)
    assert curves.of(without).confusion.tolist() == ev.curves.confusion.tolist()


def test_a_regression_evaluation_keeps_none() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=50)})
    frame["y"] = 2 * frame.a
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(frame[["a"]], frame.y)
    ev = evaluate(model, frame, np.arange(50), target="y", task="regression", features=["a"])
    assert ev.curves is None


def test_drawing_a_kept_evaluation_imports_no_scikit_learn(tmp_path: Path) -> None:
    """The run's driver draws the report after the last fit: with the curves kept, it does
    not pay scikit-learn's import (over a second of CPU) to do so."""
    pickled = tmp_path / "ev.pkl"
    pickled.write_bytes(pickle.dumps(_evaluation()))
    script = (
        "import pickle, sys\n"
        "from engine.report import render_report\n"
        f"ev = pickle.loads(open({str(pickled)!r}, 'rb').read())\n"
        "page = render_report(ev)\n"
        "assert 'ROC curve' in page and 'Confusion matrix' in page\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
