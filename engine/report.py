"""The self-contained HTML evaluation report: a header naming the recipe, run, model and
version; the leaderboard; metrics, confusion matrix, ROC, PR and calibration curves with
their reference lines (chance, prevalence, perfect calibration), feature importance with
labels that fit, residuals, training loss curves (Lightning models keep them), and the
data profile.

Plots are small hand-built inline SVGs: the report is one file with no scripts, no
network and no plotting dependency, so it opens anywhere (a browser, a CI artifact).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from engine import curves


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


@dataclass(frozen=True)
class LeaderRow:
    """One model of the leaderboard, as the report shows it."""

    model: str
    score: float  # the selection metric (CV mean, or the validation score)
    std: float | None = None
    rank: int = 0
    winner: bool = False
    params: str = ""


@dataclass(frozen=True)
class ProfileRow:
    """One column of the data profile: dtype, counts and a one-line summary."""

    name: str
    dtype: str
    count: int
    nulls: int
    summary: str
    is_target: bool = False


@dataclass(frozen=True)
class TradeoffDot:
    """One ``select.tradeoff`` candidate as the report plots it: score against cost."""

    model: str
    score: float
    cost: float
    on_front: bool = False
    chosen: bool = False


@dataclass(frozen=True)
class ReportContext:
    """What the run knows and the evaluation does not: which recipe, run, model and version
    the report is about, the leaderboard it was selected from, and the data profile."""

    recipe: str
    run_id: str | None = None
    model: str | None = None
    version: str | None = None
    metric: str | None = None
    leaderboard: tuple[LeaderRow, ...] = ()
    profile: tuple[ProfileRow, ...] = field(default_factory=tuple)
    tradeoff: tuple[TradeoffDot, ...] = ()  # select.tradeoff's candidates, when it ran
    tradeoff_rule: str = ""  # e.g. "within 0.01 of the best f1; cost = 1*latency_ms + ..."


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


Ref = tuple[str, tuple[float, float], tuple[float, float]]  # label, from (x, y), to (x, y)
CHAR_W = 6.2  # px per character of an 10px sans-serif label (generous: labels must fit)


def chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    unit: bool = True,
    diagonal: bool = False,
    scatter: bool = False,
    refs: Sequence[Ref] = (),
    same_scale: bool = False,
) -> str:
    """An SVG line (or scatter) chart; ``unit`` fixes both axes to [0, 1]. ``refs`` are
    dashed reference lines with a label (``diagonal`` adds y = x); ``same_scale`` gives
    both axes one range, so that y = x is the diagonal."""
    xs_all = [np.asarray(s[1], dtype=float) for s in series]
    ys_all = [np.asarray(s[2], dtype=float) for s in series]
    xr = (0.0, 1.0) if unit else _range(xs_all)
    yr = (0.0, 1.0) if unit else _range(ys_all)
    if same_scale and not unit:
        xr = yr = _range(xs_all + ys_all)
    if diagonal:
        lo, hi = max(xr[0], yr[0]), min(xr[1], yr[1])
        refs = [("y = x", (lo, lo), (hi, hi)), *refs]

    px, py, parts = _plot_frame(xr, yr, title)
    for label, (x0, y0), (x1, y1) in refs:
        parts.append(
            f'<line class="ref" x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(x1):.1f}" '
            f'y2="{py(y1):.1f}" stroke="#888" stroke-dasharray="4 3"><title>'
            f"{html.escape(label)}</title></line>"
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
    for j, (label, _, _) in enumerate(refs):
        parts.append(
            f'<text x="{W - 0.5 * PAD - 4}" y="{H - PAD - 6 - 13 * j}" font-size="10" '
            f'fill="#666" text-anchor="end">- - {html.escape(label)}</text>'
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


def _plot_frame(
    xr: tuple[float, float], yr: tuple[float, float], title: str, svg_class: str | None = None
) -> tuple[Callable[[float], float], Callable[[float], float], list[str]]:
    """The parts every chart starts with (the svg element, its title, the plot's frame and
    three ticks per axis) and the maps from data to pixel coordinates over ``xr``/``yr``."""

    def px(x: float) -> float:
        return PAD + (x - xr[0]) / (xr[1] - xr[0]) * (W - 1.5 * PAD)

    def py(y: float) -> float:
        return H - PAD - (y - yr[0]) / (yr[1] - yr[0]) * (H - 1.7 * PAD)

    css = f' class="{svg_class}"' if svg_class else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img"{css}><title>{html.escape(title)}</title>',
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
    return px, py, parts


def tradeoff_chart(dots: Sequence[TradeoffDot], metric: str | None) -> str:
    """Score against cost, one labelled dot per candidate: the Pareto front joined by a
    line (cheapest first), the chosen model ringed."""
    xs = np.array([d.cost for d in dots], dtype=float)
    ys = np.array([d.score for d in dots], dtype=float)
    xr, yr = _range([xs]), _range([ys])
    low = xr[0] - 0.05 * (xr[1] - xr[0])
    xr = (max(0.0, low) if xr[0] >= 0 else low, xr[1] + 0.05 * (xr[1] - xr[0]))  # costs >= 0
    yr = (yr[0] - 0.05 * (yr[1] - yr[0]), yr[1] + 0.05 * (yr[1] - yr[0]))

    title = "Score against cost"
    px, py, parts = _plot_frame(xr, yr, title, svg_class="tradeoff")
    front = sorted((d for d in dots if d.on_front), key=lambda d: d.cost)
    if len(front) > 1:
        path = " ".join(f"{px(d.cost):.1f},{py(d.score):.1f}" for d in front)
        parts.append(
            f'<polyline class="front" points="{path}" fill="none" stroke="{COLORS[2]}" '
            'stroke-width="1.4" stroke-dasharray="5 3"><title>Pareto front</title></polyline>'
        )
    for d in dots:
        x, y = px(d.cost), py(d.score)
        color = COLORS[2] if d.on_front else "#999"
        kind = "front" if d.on_front else "dominated"
        parts.append(
            f'<circle class="{kind}" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}">'
            f"<title>{html.escape(d.model)}: score {d.score:.4g}, cost {d.cost:.4g}</title></circle>"
        )
        if d.chosen:
            parts.append(
                f'<circle class="chosen" cx="{x:.1f}" cy="{y:.1f}" r="8" fill="none" '
                f'stroke="{COLORS[1]}" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{x + 7:.1f}" y="{y - 6:.1f}" font-size="10">{html.escape(d.model)}'
            f"{' (chosen)' if d.chosen else ''}</text>"
        )
    parts.append(
        f'<text x="{PAD + 6}" y="{0.7 * PAD + 14}" font-size="11" fill="{COLORS[2]}">'
        "- - Pareto front</text>"
    )
    parts.append(
        f'<text x="{W / 2 + PAD / 4:.0f}" y="{H - 8}" font-size="11" '
        'text-anchor="middle">cost (declared weights)</text>'
    )
    y_label = html.escape(metric or "score")
    parts.append(
        f'<text x="12" y="{H / 2:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {H / 2:.0f})">{y_label}</text>'
    )
    parts.append(
        f'<text x="{W / 2:.0f}" y="16" font-size="13" text-anchor="middle" '
        f'font-weight="bold">{title}</text></svg>'
    )
    return "".join(parts)


def label_width(labels: Sequence[str], font_px: float = 10) -> float:
    """Pixels that the longest label needs (an upper bound for a sans-serif font)."""
    longest = max((len(label) for label in labels), default=0)
    return longest * CHAR_W * font_px / 10 + 8


def bars(values: dict[str, float], *, title: str, top: int = 20) -> str:
    """Horizontal bar chart of the ``top`` largest values; the label column is as wide
    as the longest label, so none is clipped or cut."""
    items = sorted(values.items(), key=lambda kv: -abs(kv[1]))[:top]
    row, bar_w = 16, W - 60
    label_w = max(60.0, label_width([name for name, _ in items]))
    width = label_w + bar_w + 70
    height = 30 + row * len(items)
    peak = max((abs(v) for _, v in items), default=1.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}" role="img"><title>{html.escape(title)}</title>',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (name, v) in enumerate(items):
        y = 24 + i * row
        size = abs(v) / peak * bar_w
        parts.append(
            f'<text x="{label_w - 4:.1f}" y="{y + 11}" font-size="10" text-anchor="end">'
            f"{html.escape(name)}</text>"
        )
        parts.append(
            f'<rect x="{label_w:.1f}" y="{y}" width="{size:.1f}" height="{row - 3}" '
            f'fill="{COLORS[0]}"/>'
        )
        parts.append(
            f'<text x="{label_w + size + 4:.1f}" y="{y + 11}" font-size="10">{v:.4g}</text>'
        )
    return "".join(parts) + "</svg>"


def confusion_table(counts: np.ndarray, labels: Sequence[Any]) -> str:
    """Confusion matrix (rows true, columns predicted) as an HTML table, cells shaded by
    row share."""
    head = "".join(f"<th>{html.escape(str(label))}</th>" for label in labels)
    rows = []
    for label, row in zip(labels, counts, strict=True):
        total = row.sum() or 1
        cells = "".join(
            f'<td style="background:rgba(31,119,180,{c / total:.2f})">{c}</td>' for c in row
        )
        rows.append(f"<tr><th>{html.escape(str(label))}</th>{cells}</tr>")
    return f'<table class="cm"><tr><th>true \\ predicted</th>{head}</tr>{"".join(rows)}</table>'


def _class_curves(per_class: Sequence[curves.ClassCurves]) -> list[str]:
    """ROC, PR and calibration charts: the positive class for binary, one-vs-rest else."""
    if not per_class:
        return ["<p>Curves need both classes in the evaluated rows.</p>"]
    refs: dict[str, list[Ref]] = {
        "roc": [("chance", (0.0, 0.0), (1.0, 1.0))],
        "pr": [
            (f"no skill: {c.label} at {c.rate:.2f}", (0.0, c.rate), (1.0, c.rate))
            for c in per_class
        ],
        "calibration": [("perfectly calibrated", (0.0, 0.0), (1.0, 1.0))],
    }
    return [
        chart(
            [(c.label, *getattr(c, field)) for c in per_class],
            title=title,
            x_label=x_label,
            y_label=y_label,
            refs=refs[field],
        )
        for title, x_label, y_label, field in curves.CHARTS
    ]


def _regression_plots(ev: Evaluation) -> list[str]:
    y, p = np.asarray(ev.y_true, dtype=float), np.asarray(ev.y_pred, dtype=float)
    lo, hi = _range([y, p])
    p_lo, p_hi = _range([p])
    return [
        chart(
            [("rows", y, p)],
            title="Predicted vs actual",
            x_label="actual",
            y_label="predicted",
            unit=False,
            scatter=True,
            same_scale=True,
            refs=[("perfect: predicted = actual", (lo, lo), (hi, hi))],
        ),
        chart(
            [("rows", p, y - p)],
            title="Residuals",
            x_label="predicted",
            y_label="actual - predicted",
            unit=False,
            scatter=True,
            refs=[("zero error", (p_lo, 0.0), (p_hi, 0.0))],
        ),
    ]


def loss_chart(losses: Mapping[str, Sequence[float]]) -> str | None:
    """Per-epoch training and validation losses (a Lightning model's ``train_losses_`` and
    ``val_losses_``), or None when the model kept none."""
    series = [
        (name, np.arange(1, len(values) + 1, dtype=float), np.asarray(values, dtype=float))
        for name, values in losses.items()
        if len(values)
    ]
    if not series:
        return None
    return chart(series, title="Loss curves", x_label="epoch", y_label="loss", unit=False)


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


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4g}"


def _header(ev: Evaluation, ctx: ReportContext | None) -> tuple[str, str]:
    """(page title, header HTML): recipe, run, model and version when the run knows them."""
    if ctx is None:
        return ev.title, f"<h1>{html.escape(ev.title)}</h1>"
    title = " · ".join(x for x in (ctx.recipe, ctx.model, ctx.version and f"v{ctx.version}") if x)
    facts = [
        ("recipe", ctx.recipe),
        ("run", ctx.run_id),
        ("model", ctx.model),
        ("version", ctx.version),
        ("selected on", ctx.metric),
    ]
    items = "".join(
        f"<dt>{name}</dt><dd>{html.escape(str(value))}</dd>" for name, value in facts if value
    )
    return title, f'<h1>{html.escape(title)}</h1><dl class="facts">{items}</dl>'


def _leader_row(r: LeaderRow) -> str:
    cls = ' class="winner"' if r.winner else ""
    mark = " ★" if r.winner else ""
    std = "" if r.std is None else f" ± {_fmt(r.std)}"
    return (
        f"<tr{cls}><td>{r.rank or ''}</td><th>{html.escape(r.model)}{mark}</th>"
        f'<td>{_fmt(r.score)}{std}</td><td class="params">{html.escape(r.params)}</td></tr>'
    )


def leaderboard_table(rows: Sequence[LeaderRow], metric: str | None) -> str:
    """Rank, model, the selection metric as mean ± std, the winner marked."""
    body = "".join(_leader_row(r) for r in rows)
    name = html.escape(metric or "score")
    return (
        f'<table class="leaderboard"><tr><th>rank</th><th>model</th><th>{name}</th>'
        f"<th>params</th></tr>{body}</table>"
    )


def profile_table(rows: Sequence[ProfileRow]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(r.name)}{' (target)' if r.is_target else ''}</th>"
        f"<td>{html.escape(r.dtype)}</td><td>{r.count}</td><td>{r.nulls}</td>"
        f'<td class="summary">{html.escape(r.summary)}</td></tr>'
        for r in rows
    )
    return (
        '<table class="profile"><tr><th>column</th><th>dtype</th><th>rows</th><th>missing</th>'
        f"<th>summary</th></tr>{body}</table>"
    )


def profile_rows(profile: Any) -> tuple[ProfileRow, ...]:
    """Rows of a data profile (``engine.data.profile.DataProfile``: columns of numeric or
    categorical statistics)."""
    out = []
    for col in profile.columns.values():
        if col.numeric is not None:
            n = col.numeric
            summary = f"mean {_fmt(n.mean)} ± {_fmt(n.std)}, range [{_fmt(n.min)}, {_fmt(n.max)}]"
        elif col.categorical is not None:
            c = col.categorical
            top = ", ".join(f"{v} ({k})" for v, k in c.top[:3])
            summary = f"{c.cardinality} values; most frequent: {top}"
        else:
            summary = ""
        out.append(ProfileRow(col.name, col.dtype, col.count, col.nulls, summary, col.is_target))
    return tuple(out)


CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:right}.plots{display:flex;flex-wrap:wrap;gap:1em}"
    "td.params,td.summary{text-align:left}tr.winner{background:#eef6ee}"
    "dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px}"
    "dl.facts dt{color:#666}dl.facts dd{margin:0;font-family:monospace}"
)


def render_report(ev: Evaluation, context: ReportContext | None = None) -> str:
    """The whole report as one HTML string; ``context`` (from the run) adds the header
    facts, the leaderboard and the data profile."""
    sections: list[str] = []
    if context is not None and context.leaderboard:
        sections += ["<h2>Leaderboard</h2>", leaderboard_table(context.leaderboard, context.metric)]
    if context is not None and context.tradeoff:
        sections += [
            "<h2>Cost tradeoff</h2>",
            f'<p class="rule">{html.escape(context.tradeoff_rule)}</p>',
            tradeoff_chart(context.tradeoff, context.metric),
        ]
    sections += [f"<h2>Test metrics ({len(ev.y_true)} rows)</h2>", _metrics_table(ev)]
    plots: list[str] = []
    if ev.task == "classification":
        drawn = curves.of(ev)
        sections += ["<h2>Confusion matrix</h2>", confusion_table(drawn.confusion, drawn.labels)]
        if ev.y_score is not None:
            plots += _class_curves(drawn.classes)
    else:
        plots += _regression_plots(ev)
    losses = getattr(ev, "losses", None)
    if losses and (loss := loss_chart(losses)) is not None:
        plots.append(loss)
    if ev.feature_importance:
        plots.append(bars(dict(ev.feature_importance), title="Feature importance"))
    sections += ["<h2>Plots</h2>", f'<div class="plots">{"".join(plots)}</div>']
    if context is not None and context.profile:
        sections += ["<h2>Data profile</h2>", profile_table(context.profile)]
    title, header = _header(ev, context)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{header}{''.join(sections)}</body></html>"
    )
