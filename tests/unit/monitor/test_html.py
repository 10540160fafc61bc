"""The HTML drift report: self-contained, ranked, with histograms, metrics and history."""

from __future__ import annotations

import re

from engine.monitor.html import render

REPORT = {
    "model": "churn",
    "version": "v1",
    "n": 1200,
    "window": {"since": 1_700_000_000.0, "until": 1_700_086_400.0},
    "features": {
        "age": {"score": 0.01, "pvalue": 0.6, "drifted": False, "method": "ks",
                "missing_rate": {"reference": 0.0, "live": 0.0}, "out_of_schema": 0,
                "reasons": []},
        "income": {"score": 1.7, "pvalue": 0.0, "drifted": True, "method": "ks",
                   "missing_rate": {"reference": 0.0, "live": 0.0}, "out_of_schema": 3,
                   "reasons": ["distribution"]},
    },
    "drifted": ["income"],
    "histograms": {
        "age": {"bins": ["(-inf, 30]", "(30, inf]"], "reference": [0.5, 0.5], "live": [0.4, 0.6]},
        "income": {"bins": ["<b>x</b>", "y"], "reference": [0.9, 0.1], "live": [0.1, 0.9]},
        "(predictions)": {"bins": ["stay", "churn"], "reference": [0.7, 0.3], "live": [0.2, 0.8]},
    },
    "performance": {"labelled": 300, "live": {"f1": 0.61}, "test": {"f1": 0.8}},
    "alerts": [{"message": "feature 'income' drifted"}],
}  # fmt: skip
HISTORY = [
    {"at": 1_700_000_000.0 + i * 3600, "version": "v1", "live": {"f1": 0.8 - i / 10},
     "alerts": ["live f1 dropped"] if i > 1 else []}
    for i in range(4)
]  # fmt: skip


def test_self_contained_and_escaped() -> None:
    page = render(REPORT, HISTORY)
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and not re.search(r"(src|href)=", page)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_ranked_features_histograms_metrics_and_history() -> None:
    page = render(REPORT, HISTORY)
    assert page.index("<td>income</td>") < page.index("<td>age</td>")  # top drifting first
    assert page.count("<svg") == 3 + 1  # three histograms and the f1 line
    assert "(predictions)" in page and "drifted: distribution" in page
    assert "<td>f1</td><td>0.61</td><td>0.8</td>" in page
    assert page.count("live f1 dropped") == 2
    assert "2023-11-14 22:13:20 UTC" in page
