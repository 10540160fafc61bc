"""The monitoring report as text for a terminal (``sous monitor NAME`` without ``--json``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _p(v: Any) -> str:
    return "-" if v is None else f"{v:.3g}"


def render(report: Mapping[str, Any]) -> str:
    lines = [f"{report['model']}:{report['version']}  {report['n']} logged rows compared"]
    feats = report["features"]
    if feats:
        width = max(len(n) for n in feats)
        lines.append(f"  {'feature':<{width}}  method  PSI      p-value  missing(ref->live)  drift")
        for name, f in sorted(feats.items(), key=lambda kv: -kv[1]["score"]):
            miss = f["missing_rate"]
            lines.append(
                f"  {name:<{width}}  {f['method']:<6}  {f['score']:<7.4f}  {_p(f['pvalue']):<7}  "
                f"{miss['reference']:.3f}->{miss['live']:.3f}         "
                f"{'DRIFT (' + ', '.join(f['reasons']) + ')' if f['drifted'] else 'ok'}"
            )
    pred = report.get("prediction_drift")
    if pred:
        verdict = "DRIFT" if pred["drifted"] else "ok"
        lines.append(f"  predictions: PSI {pred['score']:.4f} p={_p(pred['pvalue'])} {verdict}")
        if pred.get("mix", {}).get("live"):
            lines.append(
                f"    mix reference {pred['mix']['reference']}  live {pred['mix']['live']}"
            )
    for key, t in (report.get("traffic") or {}).items():
        lines.append(
            f"  traffic {key}: {t['rows']} rows, latency p50 {t['p50_ms']} ms, "
            f"p95 {t['p95_ms']} ms, p99 {t['p99_ms']} ms"
        )
    for key, r in (report.get("requests") or {}).items():
        lines.append(
            f"  requests {key}: {r['requests']} ({r['rows']} rows predicted), "
            f"4xx {r['error_rate_4xx']:.1%}, 5xx {r['error_rate_5xx']:.1%}"
            + (f", {r['fallback']} by the fallback" if r.get("fallback") else "")
            + f", latency p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms"
        )
    perf = report.get("performance")
    if perf:
        lines.append(f"  live metrics on {perf['labelled']} labelled rows (test in brackets):")
        for k, v in perf["live"].items():
            test = perf["test"].get(k)
            lines.append(f"    {k}: {_p(v)}" + (f" ({_p(test)})" if test is not None else ""))
    for s in report.get("slices") or []:
        lines.append(f"  slice {s['feature']} {s['segment']}: {s['metric']} {s['value']:.3f} "
                     f"({s['rows']} rows)")  # fmt: skip
    if report.get("compare"):
        c = report["compare"]
        lines.append(f"  compare: {c}")
    for note in report.get("notes") or []:
        lines.append(f"  note: {note}")
    alerts = report.get("alerts") or []
    lines.append(f"  {len(alerts)} alert(s)" + (":" if alerts else ""))
    lines += [f"    - {a['message']}" for a in alerts]
    return "\n".join(lines)
