"""``sous monitor NAME --compare``: champion vs challenger of a shadow or A/B service.

In shadow mode both variants answer every request and their logged rows share the
request_id, so agreement is measured on the same rows; with feedback labels each variant
gets its live metrics. Memory: one (request id, prediction) pair per logged row of the
window, for the pairing.
"""

from __future__ import annotations

import json
from typing import Any

from engine.monitor.locate import Target
from engine.monitor.scan import Traffic, Window, batches

COLUMNS = ["_request_id", "_variant", "_role", "_version", "_prediction", "_latency_ms", "_ts"]


def _collect(
    target: Target, window: Window
) -> tuple[dict[str, dict[str, str]], dict[str, str], Traffic]:
    """variant -> {request id -> prediction (JSON text)}, variant -> version, traffic."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from engine.monitor.scan import _floats, _strings

    preds: dict[str, dict[str, str]] = {}
    versions: dict[str, str] = {}
    traffic = Traffic()
    for batch in batches(target.log_dir, window, COLUMNS):
        if not batch.num_rows or "_request_id" not in batch.schema.names:
            continue
        variants = _strings(batch, "_variant", "champion")
        keys = pc.binary_join_element_wise(variants, _strings(batch, "_role", "served"), "/")
        traffic.add(keys, _floats(batch, "_latency_ms"), _floats(batch, "_ts"))
        ids = batch.column("_request_id").cast(pa.string()).to_pylist()
        for variant, version, rid, pred in zip(
            variants.to_pylist(),
            _strings(batch, "_version", "").to_pylist(),
            ids,
            batch.column("_prediction").to_pylist(),
            strict=True,
        ):
            if rid is not None:
                preds.setdefault(variant, {})[rid] = pred
                versions.setdefault(variant, version)
    return preds, versions, traffic


def compare_variants(target: Target, since: float | None, until: float | None) -> dict[str, Any]:
    """Agreement, latency and (with labels) live metrics of each variant in the window."""
    from engine.drift.feedback import read_labels
    from engine.metrics import score
    from engine.monitor.locate import reference_of

    preds, versions, traffic = _collect(target, Window(since=since, until=until))
    out: dict[str, Any] = {"versions": versions, "traffic": traffic.summary()}
    champion, challenger = preds.get("champion", {}), preds.get("challenger", {})
    if not challenger:
        out["note"] = "no challenger traffic in the window: serve with --challenger V [--shadow]"
        return out
    paired = champion.keys() & challenger.keys()
    out["paired"] = len(paired)
    out["agreement"] = (
        sum(champion[r] == challenger[r] for r in paired) / len(paired) if paired else None
    )
    labels = read_labels(target.feedback_dir)
    if labels:
        task = reference_of(target).task
        live: dict[str, Any] = {}
        for variant, rows in preds.items():
            ids = [r for r in rows if r in labels]
            if not ids:
                continue
            y = [labels[r] for r in ids]
            p = [json.loads(rows[r]) for r in ids]
            if task == "classification":
                y, p = [str(v) for v in y], [str(v) for v in p]
            else:
                y, p = [float(v) for v in y], [float(v) for v in p]
            metrics = score(task, y, p)
            live[variant] = {"labelled": len(ids), **{k: round(v, 6) for k, v in metrics.items()}}
        out["live"] = live
    return out
