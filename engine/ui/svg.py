"""Inline SVG pictures drawn on the server: histograms, the step timeline, the plan DAG,
parallel coordinates and scatters. They need no script, so a page shows them at once and
they are tested as strings; interactive line charts use the vendored uPlot instead."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from engine.ui.graph import STATUS_COLORS, Placed
from engine.ui.views import Bar, Histogram, SweepView, Trial

BLUE, GREY = "#1f77b4", "#aaaaaa"


def _svg(w: float, h: float, body: Sequence[str], label: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg"{c} width="{w:.0f}" height="{h:.0f}" '
        f'viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, s: Any, anchor: str = "start", size: int = 10) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
        f"{escape(str(s))}</text>"
    )


def histogram(h: Histogram, w: int = 240, ht: int = 120) -> str:
    """Bars of a column's bins (numeric) or top values (categorical)."""
    n = len(h.counts)
    top = max(h.counts) or 1
    pad, base = 4, ht - 18
    bw = (w - 2 * pad) / max(n, 1)
    body = []
    for i, c in enumerate(h.counts):
        bh = (base - 4) * c / top
        lo = h.labels[i] if h.labels else f"{h.edges[i]:.4g} to {h.edges[i + 1]:.4g}"
        body.append(
            f'<rect x="{pad + i * bw + 1:.1f}" y="{base - bh:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{bh:.1f}" fill="{BLUE}"><title>{escape(lo)}: {c}</title></rect>'
        )
    if h.labels:
        body.append(_text(pad, ht - 4, f"{n} top values"))
    elif h.edges:
        body.append(_text(pad, ht - 4, f"{h.edges[0]:.4g}"))
        body.append(_text(w - pad, ht - 4, f"{h.edges[-1]:.4g}", "end"))
    return _svg(w, ht, body, f"histogram of {h.column}", "hist")


def gantt(bars: Sequence[Bar], w: int = 900) -> str:
    """The computed steps on lanes against time, darker the more of its wall time a step
    spent on the CPU (lighter: waiting, I/O); hover a bar for its cost."""
    ran = [b for b in bars if b.lane >= 0]
    if not ran:
        return "<p>Every step came from the cache: nothing ran.</p>"
    lanes = max(b.lane for b in ran) + 1
    names = [f"lane {i + 1}" for i in range(lanes)]
    for b in ran:
        if b.worker:
            names[b.lane] = b.worker
    end = max(b.start_s + b.wall_s for b in ran) or 1.0
    left = min(max(70, 6 * max(len(n) for n in names) + 10), 260)
    row, top = 22, 8
    ht = top + lanes * row + 24
    scale = (w - left - 10) / end
    body = []
    for lane, name in enumerate(names):
        shown = name if len(name) * 6 < left - 8 else "…" + name[-((left - 8) // 6 - 1) :]
        body.append(
            f'<g class="lane" data-lane="{escape(name)}">{_text(4, top + lane * row + 15, shown)}'
            f"<title>{escape(name)}</title></g>"
        )
    for b in ran:
        x, bw = left + b.start_s * scale, max(b.wall_s * scale, 1.5)
        where = f" on {b.worker}" if b.worker else ""
        tip = (
            f"{b.name}{where}: computed, {b.wall_s:.3f} s wall, {b.cpu_s:.3f} s CPU, "
            f"{b.peak_mem_mb:.0f} MB peak, start +{b.start_s:.2f} s"
        )
        busy = min(b.cpu_s / b.wall_s, 1.0) if b.wall_s > 0 else 1.0
        body.append(
            f'<rect class="bar" data-step="{escape(b.name)}" data-worker="{escape(b.worker or "")}" '
            f'x="{x:.1f}" '
            f'y="{top + b.lane * row + 3}" width="{bw:.1f}" height="{row - 6}" rx="2" '
            f'fill="{BLUE}" fill-opacity="{0.3 + 0.7 * busy:.2f}" stroke="#fff" stroke-width="0.5">'
            f"<title>{escape(tip)}</title></rect>"
        )
        if bw > 7 * len(b.name):  # the name fits inside the bar
            body.append(_text(x + 3, top + b.lane * row + 15, b.name, size=9))
    for i in range(5):
        t = end * i / 4
        body.append(_text(left + t * scale, ht - 6, f"{t:.2f} s", "middle"))
    return _svg(w, ht, body, "timeline of the steps that ran", "gantt")


def dag(placed: Sequence[Placed], node_w: int = 150, node_h: int = 34) -> str:
    """The plan, left to right by layer; click a node to see its key, params and inputs."""
    if not placed:
        return "<p>Empty plan.</p>"
    gap_x, gap_y = 50, 12
    layers = max(p.layer for p in placed) + 1
    per_layer = max(p.slot for p in placed) + 1
    w = layers * (node_w + gap_x) + 10
    h = per_layer * (node_h + gap_y) + 10
    pos = {
        p.row.key: (10 + p.layer * (node_w + gap_x), 5 + p.slot * (node_h + gap_y)) for p in placed
    }
    body = []
    for p in placed:
        x2, y2 = pos[p.row.key]
        for i in p.row.inputs:
            if i in pos:
                x1, y1 = pos[i]
                body.append(
                    f'<path d="M{x1 + node_w},{y1 + node_h / 2} C{x1 + node_w + gap_x / 2},'
                    f"{y1 + node_h / 2} {x2 - gap_x / 2},{y2 + node_h / 2} {x2},{y2 + node_h / 2}"
                    '" fill="none" stroke="#888"/>'
                )
    for p in placed:
        x, y = pos[p.row.key]
        label = p.row.step if len(p.row.step) <= 22 else p.row.step[:21] + "…"
        stroke = ' stroke="#333" stroke-width="2.5"' if p.shared else ' stroke="#777"'
        body.append(
            f'<g class="node" data-key="{escape(p.row.key)}" data-status="{escape(p.row.status)}" '
            f'tabindex="0"><rect x="{x}" y="{y}" width="{node_w}" height="{node_h}" rx="5" '
            f'fill="{STATUS_COLORS.get(p.row.status, "#ddd")}"{stroke}/>'
            f"{_text(x + 6, y + 14, label, size=11)}{_text(x + 6, y + 28, p.row.status, size=9)}"
            f"<title>{escape(p.row.step)} ({escape(p.row.status)})</title></g>"
        )
    return _svg(w, h, body, "plan DAG", "dag")


def _axis(values: Sequence[Any]) -> tuple[bool, list[Any]]:
    """Numeric axis (all values numbers) or categorical (distinct values in order)."""
    present = [v for v in values if v is not None]
    numeric = bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )
    if numeric:
        return True, [min(present), max(present)]
    cats: list[Any] = []
    for v in values:
        if str(v) not in cats:
            cats.append(str(v))
    return False, cats


def _frac(value: Any, axis: tuple[bool, list[Any]]) -> float:
    numeric, info = axis
    if numeric:
        if value is None:
            return 0.0
        lo, hi = info
        return 0.5 if hi == lo else (float(value) - lo) / (hi - lo)
    cats = info
    return 0.5 if len(cats) < 2 else cats.index(str(value)) / (len(cats) - 1)


def _said(t: Trial) -> str:
    """A trial's line's tooltip: its metric, or where it was stopped and what it scored."""
    if not t.pruned:
        return str(t.value)
    score = "" if t.stopped_score is None else f" ({t.stopped_score:.4g})"
    return f"{t.stopped or 'pruned'}{score}"


def parallel(sweep: SweepView, w: int = 900, h: int = 300) -> str:
    """One vertical axis per parameter and one for the metric; a line per trial, darker
    when better; pruned trials dashed grey."""
    names = list(sweep.param_names)
    done = [t for t in sweep.trials if t.value is not None]
    if not names or not done:
        return "<p>No parameters varied.</p>"
    axes = [_axis([t.params.get(n) for t in sweep.trials]) for n in names]
    m_axis = _axis([t.value for t in done])
    n_axes = len(names) + 1
    left, right, top, bottom = 40, 40, 24, 30
    step = (w - left - right) / max(n_axes - 1, 1)

    def y(frac: float) -> float:
        return top + (1 - frac) * (h - top - bottom)

    body = []
    for t in sorted(sweep.trials, key=lambda t: (t.value is not None, _frac(t.value, m_axis))):
        pts = [(left + i * step, y(_frac(t.params.get(n), axes[i]))) for i, n in enumerate(names)]
        if t.value is not None:
            q = _frac(t.value, m_axis)
            q = q if sweep.greater_is_better else 1 - q
            pts.append((left + len(names) * step, y(_frac(t.value, m_axis))))
            style = f'stroke="{BLUE}" stroke-opacity="{0.25 + 0.75 * q:.2f}" stroke-width="1.5"'
        else:
            style = f'stroke="{GREY}" stroke-dasharray="4 3"'
        d = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py) in enumerate(pts))
        body.append(
            f'<path class="trial{" pruned" if t.pruned else ""}" d="{d}" fill="none" {style}>'
            f"<title>{escape(t.label)}: {escape(_said(t))}</title></path>"
        )
    for i, (name, axis) in enumerate([*zip(names, axes, strict=True), (sweep.metric, m_axis)]):
        x = left + i * step
        body.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{h - bottom}" stroke="#333"/>')
        body.append(_text(x, top - 8, name, "middle", 11))
        numeric, info = axis
        ticks = (
            [(0.0, info[0]), (1.0, info[-1])] if numeric else [(_frac(c, axis), c) for c in info]
        )
        for frac, label in ticks:
            shown = f"{label:.4g}" if isinstance(label, float) else label
            body.append(_text(x + 4, y(frac) + 3, shown, size=9))
    return _svg(w, h, body, "parallel coordinates of the trials", "parallel")


def scatter(sweep: SweepView, param: str, w: int = 280, h: int = 200) -> str:
    """The metric against one parameter (categorical parameters spread evenly)."""
    done = [t for t in sweep.trials if t.value is not None]
    axis = _axis([t.params.get(param) for t in done])
    m_axis = _axis([t.value for t in done])
    left, bottom, top = 44, 28, 10
    body = [
        f'<rect x="{left}" y="{top}" width="{w - left - 8}" height="{h - top - bottom}" '
        'fill="none" stroke="#999"/>'
    ]
    for t in done:
        cx = left + 6 + _frac(t.params.get(param), axis) * (w - left - 20)
        cy = top + 6 + (1 - _frac(t.value, m_axis)) * (h - top - bottom - 12)
        body.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{BLUE}" fill-opacity="0.7">'
            f"<title>{escape(t.label)}: {escape(param)}={t.params.get(param)}, "
            f"{escape(sweep.metric)}={t.value}</title></circle>"
        )
    body.append(_text((left + w) / 2, h - 6, param, "middle", 11))
    lo, hi = m_axis[1][0], m_axis[1][-1]
    body.append(_text(left - 4, h - bottom, f"{lo:.3g}", "end", 9))
    body.append(_text(left - 4, top + 8, f"{hi:.3g}", "end", 9))
    return _svg(w, h, body, f"{sweep.metric} against {param}", "scatter")


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip


def lines(
    series: Sequence[tuple[str, Sequence[float | None]]],
    ticks: Sequence[str],
    label: str,
    *,
    reference: float | None = None,
    reference_label: str = "",
    w: int = 900,
    h: int = 240,
) -> str:
    """One line per series over the same x positions (a window each), gaps where a value is
    missing, and an optional dashed horizontal line (a threshold, a test metric)."""
    values = [v for _, vs in series for v in vs if v is not None]
    if not values:
        return "<p>No window has enough rows to score yet.</p>"
    lo, hi = min(values), max(values)
    if reference is not None:
        lo, hi = min(lo, reference), max(hi, reference)
    lo, hi = (lo - 0.5, hi + 0.5) if hi == lo else (lo, hi)
    left, right, top, bottom = 54, 150, 10, 34
    n = max(len(ticks), 1)
    step = (w - left - right) / max(n - 1, 1)

    def x(i: int) -> float:
        return left + i * step if n > 1 else left + (w - left - right) / 2

    def y(v: float) -> float:
        return top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom)

    body = [
        f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" '
        'fill="none" stroke="#ccc"/>',
        _text(left - 4, y(hi) + 4, f"{hi:.3g}", "end", 9),
        _text(left - 4, y(lo), f"{lo:.3g}", "end", 9),
    ]
    every = max(1, round(n / 8))
    for i, t in enumerate(ticks):
        if i % every == 0 or i == n - 1:
            body.append(_text(x(i), h - bottom + 14, t, "middle", 9))
    if reference is not None:
        yr = y(reference)
        body.append(
            f'<line class="reference" x1="{left}" y1="{yr:.1f}" x2="{w - right}" y2="{yr:.1f}" '
            f'stroke="#d62728" stroke-dasharray="5 4"><title>{escape(reference_label)}: '
            f"{reference:.4g}</title></line>"
        )
    for k, (name, vs) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((x(i), y(v)))
        for pts in runs:
            if len(pts) > 1:
                d = " ".join(
                    f"{'M' if j == 0 else 'L'}{a:.1f},{b:.1f}" for j, (a, b) in enumerate(pts)
                )
                body.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        for i, v in enumerate(vs):
            if v is not None:
                body.append(
                    f'<circle class="point" data-series="{escape(name)}" cx="{x(i):.1f}" '
                    f'cy="{y(v):.1f}" r="3" fill="{color}"><title>{escape(name)}, '
                    f"{escape(ticks[i] if i < len(ticks) else str(i))}: {v:.4g}</title></circle>"
                )
        ly = top + 6 + 14 * k
        body.append(
            f'<rect x="{w - right + 10}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
        )
        body.append(_text(w - right + 24, ly + 1, name, size=10))
    return _svg(w, h, body, label, "lines")
