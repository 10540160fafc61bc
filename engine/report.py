"""The self-contained HTML evaluation report: metrics, confusion matrix, ROC, PR and
calibration curves, feature importance, residuals.

Plots are small hand-built inline SVGs: the report is one file with no scripts, no
network and no plotting dependency, so it opens anywhere (a browser, a CI artifact).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np


class Evaluation(Protocol):
    """What the report reads of an evaluation (``engine.steps.train.Evaluation``, which
    renders itself with this module: the report never imports the steps)."""

    @property
    def task(self) -> str: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def y_true(self) -> np.ndarray: ...
    @property
    def y_pred(self) -> np.ndarray: ...
    @property
    def y_score(self) -> np.ndarray | None: ...
    @property
    def labels(self) -> tuple[Any, ...]: ...
    @property
    def per_class_f1(self) -> Mapping[str, float]: ...
    @property
    def feature_importance(self) -> Mapping[str, float] | None: ...
    @property
    def title(self) -> str: ...


W, H, PAD = 360, 280, 44
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
MAX_POINTS = 600
Series = tuple[str, np.ndarray, np.ndarray]


def _thin(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_POINTS points, evenly spaced, first and last kept."""
    if len(xs) <= MAX_POINTS:
        return xs, ys
    keep = np.unique(np.linspace(0, len(xs) - 1, MAX_POINTS).round().astype(int))
    return xs[keep], ys[keep]


def _range(values: Sequence[np.ndarray]) -> tuple[float, float]:
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if not len(finite):
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    unit: bool = True,
    diagonal: bool = False,
    scatter: bool = False,
) -> str:
    """An SVG line (or scatter) chart; ``unit`` fixes both axes to [0, 1]."""
    xr = (0.0, 1.0) if unit else _range([s[1] for s in series])
    yr = (0.0, 1.0) if unit else _range([s[2] for s in series])

    def px(x: float) -> float:
        return PAD + (x - xr[0]) / (xr[1] - xr[0]) * (W - 1.5 * PAD)

    def py(y: float) -> float:
        return H - PAD - (y - yr[0]) / (yr[1] - yr[0]) * (H - 1.7 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img"><title>{html.escape(title)}</title>',
        f'<rect x="{PAD}" y="{0.7 * PAD}" width="{W - 1.5 * PAD}" height="{H - 1.7 * PAD}" '
        'fill="none" stroke="#999"/>',
    ]
    for v in np.linspace(0, 1, 3):
        x, y = xr[0] + v * (xr[1] - xr[0]), yr[0] + v * (yr[1] - yr[0])
        parts.append(
            f'<text x="{px(x):.1f}" y="{H - PAD + 14}" font-size="10" '
            f'text-anchor="middle">{x:.3g}</text>'
        )
        parts.append(
            f'<text x="{PAD - 4}" y="{py(y) + 3:.1f}" font-size="10" '
            f'text-anchor="end">{y:.3g}</text>'
        )
    if diagonal:
        parts.append(
            f'<line x1="{px(xr[0]):.1f}" y1="{py(yr[0]):.1f}" x2="{px(xr[1]):.1f}" '
            f'y2="{py(yr[1]):.1f}" stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    for i, (label, xs, ys) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        xs, ys = _thin(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        ok = np.isfinite(xs) & np.isfinite(ys)
        pts = [(px(x), py(y)) for x, y in zip(xs[ok], ys[ok], strict=True)]
        if scatter:
            parts += [
                f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2" fill="{color}" fill-opacity="0.5"/>'
                for a, b in pts
            ]
        elif pts:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.6"/>'
            )
        parts.append(
            f'<text x="{PAD + 6}" y="{0.7 * PAD + 14 + 13 * i}" font-size="11" '
            f'fill="{color}">{html.escape(label)}</text>'
        )
    parts.append(
        f'<text x="{W / 2 + PAD / 4:.0f}" y="{H - 8}" font-size="11" '
        f'text-anchor="middle">{html.escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="12" y="{H / 2:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {H / 2:.0f})">{html.escape(y_label)}</text>'
    )
    parts.append(
        f'<text x="{W / 2:.0f}" y="16" font-size="13" text-anchor="middle" '
        f'font-weight="bold">{html.escape(title)}</text></svg>'
    )
    return "".join(parts)


def bars(values: dict[str, float], *, title: str, top: int = 20) -> str:
    """Horizontal bar chart of the ``top`` largest values."""
    items = sorted(values.items(), key=lambda kv: -abs(kv[1]))[:top]
    row, label_w = 16, 180
    height = 30 + row * len(items)
    peak = max((abs(v) for _, v in items), default=1.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W + 140}" height="{height}" '
        f'role="img"><title>{html.escape(title)}</title>',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (name, v) in enumerate(items):
        y = 24 + i * row
        width = abs(v) / peak * (W - 60)
        parts.append(
            f'<text x="{label_w - 4}" y="{y + 11}" font-size="10" text-anchor="end">'
            f"{html.escape(name[:32])}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{row - 3}" '
            f'fill="{COLORS[0]}"/>'
        )
        parts.append(
            f'<text x="{label_w + width + 4:.1f}" y="{y + 11}" font-size="10">{v:.4g}</text>'
        )
    return "".join(parts) + "</svg>"


def confusion_table(y_true: Any, y_pred: Any, labels: Sequence[Any]) -> str:
    """Confusion matrix as an HTML table, cells shaded by row share."""
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, labels=list(labels))
    head = "".join(f"<th>{html.escape(str(label))}</th>" for label in labels)
    rows = []
    for label, counts in zip(labels, cm, strict=True):
        total = counts.sum() or 1
        cells = "".join(
            f'<td style="background:rgba(31,119,180,{c / total:.2f})">{c}</td>' for c in counts
        )
        rows.append(f"<tr><th>{html.escape(str(label))}</th>{cells}</tr>")
    return f'<table class="cm"><tr><th>true \\ predicted</th>{head}</tr>{"".join(rows)}</table>'


def _class_curves(ev: Evaluation, y_score: np.ndarray) -> list[str]:
    """ROC, PR and calibration charts: the positive class for binary, one-vs-rest else."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    classes = [ev.labels[-1]] if len(ev.labels) == 2 else list(ev.labels)
    roc, pr, cal = [], [], []
    for label in classes:
        truth = np.asarray(ev.y_true) == label
        if truth.all() or not truth.any():
            continue
        score = y_score[:, ev.labels.index(label)]
        fpr, tpr, _ = roc_curve(truth, score)
        prec, rec, _ = precision_recall_curve(truth, score)
        frac, mean = calibration_curve(truth, score, n_bins=10, strategy="quantile")
        name = str(label)
        roc.append((name, fpr, tpr))
        pr.append((name, rec[::-1], prec[::-1]))
        cal.append((name, mean, frac))
    if not roc:
        return ["<p>Curves need both classes in the evaluated rows.</p>"]
    return [
        chart(
            roc,
            title="ROC curve",
            x_label="false positive rate",
            y_label="true positive rate",
            diagonal=True,
        ),
        chart(pr, title="Precision-recall curve", x_label="recall", y_label="precision"),
        chart(
            cal,
            title="Calibration",
            x_label="mean predicted probability",
            y_label="fraction positive",
            diagonal=True,
        ),
    ]


def _regression_plots(ev: Evaluation) -> list[str]:
    y, p = np.asarray(ev.y_true, dtype=float), np.asarray(ev.y_pred, dtype=float)
    return [
        chart(
            [("rows", y, p)],
            title="Predicted vs actual",
            x_label="actual",
            y_label="predicted",
            unit=False,
            scatter=True,
        ),
        chart(
            [("rows", p, y - p)],
            title="Residuals",
            x_label="predicted",
            y_label="actual - predicted",
            unit=False,
            scatter=True,
        ),
    ]


def _metrics_table(ev: Evaluation) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{'n/a' if math.isnan(v) else f'{v:.4f}'}</td></tr>"
        for k, v in ev.metrics.items()
    )
    if ev.per_class_f1:
        rows += "".join(
            f"<tr><th>f1 [{html.escape(k)}]</th><td>{v:.4f}</td></tr>"
            for k, v in ev.per_class_f1.items()
        )
    return f'<table class="metrics">{rows}</table>'


CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:right}.plots{display:flex;flex-wrap:wrap;gap:1em}"
)


def render_report(ev: Evaluation) -> str:
    """The whole report as one HTML string."""
    sections = [f"<h2>Metrics ({len(ev.y_true)} rows)</h2>", _metrics_table(ev)]
    plots: list[str] = []
    if ev.task == "classification":
        sections += ["<h2>Confusion matrix</h2>", confusion_table(ev.y_true, ev.y_pred, ev.labels)]
        if ev.y_score is not None:
            plots += _class_curves(ev, ev.y_score)
    else:
        plots += _regression_plots(ev)
    if ev.feature_importance:
        plots.append(bars(dict(ev.feature_importance), title="Feature importance"))
    sections += ["<h2>Plots</h2>", f'<div class="plots">{"".join(plots)}</div>']
    title = html.escape(ev.title)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head><body><h1>{title}</h1>{''.join(sections)}</body></html>"
    )
