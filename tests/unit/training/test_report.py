"""The HTML evaluation report: self-contained, well-formed SVG plots, the right sections."""

from __future__ import annotations

import dataclasses
import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from engine.report import (
    CHAR_W,
    LeaderRow,
    ProfileRow,
    ReportContext,
    bars,
    chart,
    confusion_table,
    profile_rows,
    render_report,
)
from engine.steps.train import Evaluation, training_losses

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
    table = confusion_table(np.array([[1, 1], [1, 2]]), (0, 1))
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


# The report of issue 15: header, leaderboard, reference lines, labels that fit, losses,
# the data profile.


def _refs(html: str) -> dict[str, list[str]]:
    """Chart title -> the labels of its dashed reference lines."""
    out = {}
    for svg in SVG.findall(html):
        root = ET.fromstring(svg)
        ns = "{http://www.w3.org/2000/svg}"
        lines = [e.find(f"{ns}title").text for e in root.iter(f"{ns}line")]
        out[root.find(f"{ns}title").text] = lines
    return out


def _context(**kw) -> ReportContext:
    rows = (
        LeaderRow("rf", 0.91, 0.02, rank=1, winner=True, params="n_estimators=200"),
        LeaderRow("logreg", 0.87, 0.03, rank=2),
    )
    profile = (
        ProfileRow("age", "int64", 200, 3, "mean 41 ± 12, range [18, 90]"),
        ProfileRow("churned", "int64", 200, 0, "2 values", is_target=True),
    )
    base = dict(recipe="churn", run_id="20261130-101500-ab12", model="rf", version="3",
                metric="f1", leaderboard=rows, profile=profile)  # fmt: skip
    return ReportContext(**{**base, **kw})


def test_header_names_recipe_run_model_and_version():
    html = render_report(_evaluation(), _context())
    head = html[: html.index("<h2>")]
    for fact in ("churn", "20261130-101500-ab12", "rf", "v3", "f1"):
        assert fact in head
    assert "<title>churn · rf · v3</title>" in html


def test_leaderboard_ranks_and_marks_the_winner():
    html = render_report(_evaluation(), _context())
    table = re.search(r'<table class="leaderboard">.*?</table>', html).group(0)
    assert table.index("rf") < table.index("logreg")
    assert '<tr class="winner">' in table and "rf ★" in table and "0.91 ± 0.02" in table
    assert html.index("Leaderboard") < html.index("Test metrics")


def test_data_profile_section():
    html = render_report(_evaluation(), _context())
    table = re.search(r'<table class="profile">.*?</table>', html).group(0)
    assert "age" in table and "churned (target)" in table and "mean 41" in table
    assert "Data profile" not in render_report(_evaluation(), _context(profile=()))


def test_profile_rows_from_a_data_profile():
    import pandas as pd

    from engine.data.profile import profile_frame

    frame = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": ["a", "a", "b", "a"], "y": [0, 1, 0, 1]})
    rows = {r.name: r for r in profile_rows(profile_frame(frame, target="y"))}
    assert rows["x"].nulls == 1 and "mean" in rows["x"].summary
    assert "2 values" in rows["c"].summary and "a (3)" in rows["c"].summary
    assert rows["y"].is_target


def test_curves_have_reference_lines():
    refs = _refs(render_report(_evaluation()))
    assert refs["ROC curve"] == ["chance"]
    assert refs["Calibration"] == ["perfectly calibrated"]
    [no_skill] = refs["Precision-recall curve"]
    assert no_skill.startswith("no skill: 1 at 0.")
    reg = _refs(render_report(_evaluation("regression")))
    assert reg["Predicted vs actual"] == ["perfect: predicted = actual"]
    assert reg["Residuals"] == ["zero error"]


def test_prevalence_line_sits_at_the_positive_rate():
    ev = _evaluation()
    svg = next(s for s in SVG.findall(render_report(ev)) if "Precision-recall" in s)
    y1, y2 = (
        float(v)
        for v in re.search(r'class="ref"[^>]*y1="([\d.]+)"[^>]*y2="([\d.]+)"', svg).groups()
    )
    assert y1 == y2  # horizontal


def test_feature_importance_labels_fit():
    long = "cat__customer_segment_enterprise_with_dedicated_support_and_sla"
    svg = bars({long: 0.5, "num__a": 0.2}, title="Feature importance")
    assert f">{long}</text>" in svg  # whole, not cut at 32 characters
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    label = next(t for t in root.iter(f"{ns}text") if t.text == long)
    bar = next(root.iter(f"{ns}rect"))
    # right-aligned at x, so it starts at x - width: inside the picture, left of the bars
    assert float(label.get("x")) - len(long) * CHAR_W >= 0
    assert float(label.get("x")) < float(bar.get("x"))
    assert float(root.get("width")) >= float(bar.get("x")) + float(bar.get("width"))


def test_loss_curves_are_plotted_when_the_model_kept_them():
    ev = _evaluation()
    with_losses = dataclasses.replace(
        ev, losses={"train": (1.0, 0.6, 0.4), "validation": (1.1, 0.8, 0.7)}
    )
    svg = [s for s in SVG.findall(render_report(with_losses)) if "Loss curves" in s]
    assert len(svg) == 1 and svg[0].count("<polyline") == 2
    assert "Loss curves" not in render_report(ev)


def test_training_losses_of_a_fitted_model():
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    mlp = make_pipeline(StandardScaler(), MLPClassifier(max_iter=5, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 5 epochs on purpose
        mlp.fit(X, y)
    assert len(training_losses(mlp)["train"]) == 5
    assert training_losses(RandomForestClassifier(n_estimators=2).fit(X, y)) is None


def test_a_lightning_models_losses_reach_the_report():
    from sklearn.datasets import load_iris

    from engine.models.lightning import TabularMLPClassifier

    X, y = load_iris(return_X_y=True)
    model = TabularMLPClassifier(hidden=(8,), max_epochs=3, batch_size=32).fit(X, y)
    losses = training_losses(model)
    assert len(losses["train"]) == len(losses["validation"]) == 3
    ev = dataclasses.replace(_evaluation(), losses=losses)
    assert "Loss curves" in _titles(render_report(ev))


def test_the_tradeoff_chart_joins_the_front_rings_the_chosen_and_starts_cost_at_zero() -> None:
    from engine.report import TradeoffDot, tradeoff_chart

    dots = [
        TradeoffDot("big", 0.95, 0.09, on_front=True),
        TradeoffDot("mid", 0.80, 0.08),  # dominated: grey, off the front line
        TradeoffDot("small", 0.90, 0.001, on_front=True, chosen=True),
    ]
    svg = tradeoff_chart(dots, "f1")
    assert svg.count('class="front"') == 3  # the front's line and its two dots
    assert svg.count('class="dominated"') == 1 and svg.count('class="chosen"') == 1
    assert "small (chosen)" in svg and ">f1<" in svg
    assert "-0.0" not in svg  # costs are never negative: the axis starts at 0
