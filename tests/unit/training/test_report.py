"""The HTML evaluation report: self-contained, well-formed SVG plots, the right sections."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from engine.report import bars, chart, confusion_table, render_report
from engine.steps.train import Evaluation

SVG = re.compile(r"<svg.*?</svg>", re.S)


def _evaluation(task="classification", n_classes=2, importance=True, labels=None):
    rng = np.random.default_rng(0)
    n = 200
    if task == "regression":
        y = rng.normal(size=n)
        return Evaluation(
            task,
            {"rmse": 0.5, "mae": 0.4, "r2": 0.7},
            y,
            y + rng.normal(0, 0.3, n),
            None,
            (),
            {},
            {"num__a": 0.3} if importance else None,
            "reg run",
        )
    labels = labels or tuple(range(n_classes))
    codes = rng.integers(0, n_classes, n)
    proba = rng.dirichlet(np.ones(n_classes), n)
    proba[np.arange(n), codes] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    y = np.asarray(labels)[codes]
    pred = np.asarray(labels)[proba.argmax(axis=1)]
    return Evaluation(
        task,
        {"f1": 0.8, "roc_auc": float("nan")},
        y,
        pred,
        proba,
        labels,
        {str(k): 0.8 for k in labels},
        {"num__a": 0.7, "cat__b_x": -0.2} if importance else None,
        "cls run",
    )


def _titles(html: str) -> list[str]:
    titles = []
    for svg in SVG.findall(html):
        root = ET.fromstring(svg)  # well-formed, or this raises
        titles.append(root.find("{http://www.w3.org/2000/svg}title").text)
    return titles


@pytest.mark.parametrize(
    ("ev", "titles"),
    [
        pytest.param(
            _evaluation(),
            ["ROC curve", "Precision-recall curve", "Calibration", "Feature importance"],
            id="binary",
        ),
        pytest.param(
            _evaluation(n_classes=3, importance=False),
            ["ROC curve", "Precision-recall curve", "Calibration"],
            id="multiclass",
        ),
        pytest.param(
            _evaluation("regression"),
            ["Predicted vs actual", "Residuals", "Feature importance"],
            id="regression",
        ),
    ],
)
def test_report_sections(ev, titles):
    html = render_report(ev)
    assert (
        html.startswith("<!DOCTYPE html>")
        and "<script" not in html
        and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert _titles(html) == titles
    assert ("Confusion matrix" in html) is (ev.task == "classification")


def test_multiclass_curves_have_one_line_per_class():
    html = render_report(_evaluation(n_classes=3))
    roc = SVG.findall(html)[0]
    assert roc.count("<polyline") == 3


def test_labels_are_escaped():
    html = render_report(_evaluation(labels=("<b>no", "yes&co")))
    assert "<b>no" not in html and "&lt;b&gt;no" in html and "yes&amp;co" in html
    _titles(html)


def test_confusion_table_counts():
    table = confusion_table(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), (0, 1))
    cells = re.findall(r">(\d+)</td>", table)
    assert cells == ["1", "1", "1", "2"]


def test_chart_thins_long_series_and_keeps_ends():
    xs = np.linspace(0, 1, 10_000)
    svg = chart([("s", xs, xs)], title="t", x_label="x", y_label="y")
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert 100 < len(points) <= 600
    assert points[0] != points[-1]


def test_nan_metric_shows_as_na():
    assert "<td>n/a</td>" in render_report(_evaluation())


def test_bars_top_k():
    svg = bars({f"f{i}": float(i) for i in range(50)}, title="imp", top=5)
    assert svg.count("<rect") == 5 and "f49" in svg and "f10" not in svg
