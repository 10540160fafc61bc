"""The drift report as one self-contained HTML file (inline CSS and SVG, no script, no
network): top drifting features, reference-vs-live histograms, live metrics over time and
the alert history. Built from the JSON report and the check history only, so it holds
nothing the JSON report does not (no raw values)."""

from __future__ import annotations

import datetime
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;
text-align:left}.drift{color:#b00;font-weight:600}.ok{color:#070}
.charts{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0}figcaption{font-weight:600}
.ref{fill:#8aa9d6}.live{fill:#e6904e}.line{fill:none;stroke:#555;stroke-width:1.5}"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def bars(title: str, hist: Mapping[str, Sequence[Any]], width: int = 360) -> str:
    """Side-by-side bars of reference and live shares per bin, as inline SVG."""
    bins, ref, live = list(hist["bins"]), list(hist["reference"]), list(hist["live"])
    h, top = 140, max([*ref, *live, 1e-9])
    step = width / max(1, len(bins))
    bar = max(1.0, step / 2 - 1)
    parts = []
    for i, (name, r, q) in enumerate(zip(bins, ref, live, strict=True)):
        x = i * step
        for j, (share, cls) in enumerate(((r, "ref"), (q, "live"))):
            bh = h * float(share) / top
            parts.append(
                f'<rect class="{cls}" x="{x + j * bar:.1f}" y="{h - bh:.1f}" width="{bar:.1f}" '
                f'height="{bh:.1f}"><title>{_e(name)}: {cls} {float(share):.3f}</title></rect>'
            )
    return (
        f"<figure><figcaption>{_e(title)}</figcaption>"
        f'<svg width="{width}" height="{h + 4}" role="img">{"".join(parts)}</svg>'
        f"<div><small>blue: reference, orange: live; {len(bins)} bins</small></div></figure>"
    )


def line(title: str, points: Sequence[tuple[float, float]], width: int = 360) -> str:
    if len(points) < 2:
        return ""
    h = 100
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = width / ((x1 - x0) or 1)
    sy = h / ((y1 - y0) or 1)
    path = " ".join(f"{(x - x0) * sx:.1f},{h - (y - y0) * sy:.1f}" for x, y in points)
    return (
        f"<figure><figcaption>{_e(title)} ({y0:.3g} .. {y1:.3g})</figcaption>"
        f'<svg width="{width}" height="{h + 4}"><polyline class="line" points="{path}"/></svg>'
        "</figure>"
    )


def render(report: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> str:
    feats = report["features"]
    ranked = sorted(feats.items(), key=lambda kv: -kv[1]["score"])
    rows = "".join(
        f"<tr><td>{_e(n)}</td><td>{_e(f['method'])}</td><td>{f['score']:.4f}</td>"
        f"<td>{f['pvalue']:.3g}</td><td>{f['missing_rate']['reference']:.3f} &rarr; "
        f"{f['missing_rate']['live']:.3f}</td><td>{f['out_of_schema']}</td>"
        f'<td class="{"drift" if f["drifted"] else "ok"}">'
        f"{'drifted: ' + _e(', '.join(f['reasons'])) if f['drifted'] else 'ok'}</td></tr>"
        for n, f in ranked
    )
    hists = report.get("histograms") or {}
    charts = "".join(bars(n, hists[n]) for n, _ in ranked if n in hists)
    charts += "".join(bars(n, h) for n, h in hists.items() if n not in feats)
    perf = report.get("performance")
    perf_html = "<p>No feedback labels in the window.</p>"
    if perf:
        perf_html = (
            "<table><tr><th>metric</th><th>live</th><th>test</th></tr>"
            + "".join(
                f"<tr><td>{_e(k)}</td><td>{_e(v)}</td><td>{_e(perf['test'].get(k, '-'))}</td></tr>"
                for k, v in perf["live"].items()
            )
            + f"</table><p>{perf['labelled']} labelled rows.</p>"
        )
    series: dict[str, list[tuple[float, float]]] = {}
    for h in history:
        for k, v in (h.get("live") or {}).items():
            if isinstance(v, int | float) and v == v:
                series.setdefault(k, []).append((float(h["at"]), float(v)))
    over_time = "".join(line(f"live {k}", pts) for k, pts in series.items())
    alerts = [(h["at"], h.get("version", ""), a) for h in history for a in h.get("alerts", [])]
    alert_rows = "".join(
        f"<tr><td>{_when(at)}</td><td>{_e(v)}</td><td>{_e(a)}</td></tr>"
        for at, v, a in reversed(alerts[-200:])
    )
    current = "".join(f"<li>{_e(a['message'])}</li>" for a in report.get("alerts", []))
    traffic = "".join(
        f"<tr><td>{_e(k)}</td><td>{r['requests']}</td><td>{r['rows']}</td>"
        f"<td>{r['error_rate_4xx']:.2%} ({r['errors_4xx']})</td>"
        f"<td>{r['error_rate_5xx']:.2%} ({r['errors_5xx']})</td><td>{r.get('fallback', 0)}</td>"
        f"<td>{_e(r['p50_ms'])}</td><td>{_e(r['p95_ms'])}</td><td>{_e(r['p99_ms'])}</td></tr>"
        for k, r in (report.get("requests") or {}).items()
    )
    window = report.get("window") or {}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drift report: {_e(report["model"])}:{_e(report["version"])}</title>
<style>{CSS}</style></head>
<body>
<h1>Drift report: {_e(report["model"])}:{_e(report["version"])}</h1>
<p>{report["n"]} logged rows from {_when(window.get("since"))} to {_when(window.get("until"))}.
{len(report.get("drifted", []))} drifted feature(s).</p>
<h2>Alerts now</h2><ul>{current or "<li>none</li>"}</ul>
<h2>Traffic</h2>
<table><tr><th>version/variant</th><th>requests</th><th>rows</th><th>4xx</th><th>5xx</th>
<th>by fallback</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>{traffic}</table>
<h2>Top drifting features</h2>
<table><tr><th>feature</th><th>test</th><th>PSI</th><th>p-value</th><th>missing</th>
<th>out of schema</th><th>verdict</th></tr>{rows}</table>
<h2>Reference vs live</h2><div class="charts">{charts}</div>
<h2>Live metrics</h2>{perf_html}<div class="charts">{over_time}</div>
<h2>Alert history</h2>
<table><tr><th>when</th><th>version</th><th>alert</th></tr>{alert_rows}</table>
</body></html>
"""


def write_html(path: str | Path, report: Mapping[str, Any], target: Any) -> Path:
    from engine.monitor.alerts import history

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report, history(target.name)))
    return out
