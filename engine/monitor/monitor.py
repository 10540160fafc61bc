"""One monitoring check of a served version: scan, compare, evaluate, decide the alerts."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.drift.reference import Reference
from engine.monitor.alerts import Alert
from engine.monitor.drift import ColumnDrift, feature_drift, histogram, mix, prediction_drift
from engine.monitor.locate import Target, locate, reference_of
from engine.monitor.performance import Performance
from engine.monitor.scan import LiveCounts, Window, scan, schema_counter
from engine.specs import MonitorSpec

PREDICTIONS = "(predictions)"  # the predictions' histogram (parentheses: never a column name)


@dataclass(frozen=True)
class MonitorReport:
    """What ``sous monitor --json`` prints (see docs/monitoring.md for every field)."""

    model: str
    version: str
    n: int
    since: float | None
    until: float
    features: Mapping[str, ColumnDrift]
    prediction: ColumnDrift | None
    prediction_mix: Mapping[str, Mapping[str, float]]
    traffic: Mapping[str, Mapping[str, float]]
    performance: Performance | None
    alerts: tuple[Alert, ...]
    notes: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    histograms: Mapping[str, Mapping[str, list[object]]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. "compare"
    requests: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # version/variant

    @property
    def drifted(self) -> list[str]:
        return [n for n, d in self.features.items() if d.drifted]

    def to_json(self) -> dict[str, Any]:
        pred = None
        if self.prediction is not None:
            pred = {**self.prediction.to_json(), "mix": dict(self.prediction_mix)}
        out: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "n": self.n,
            "window": {"since": self.since, "until": self.until},
            "features": {k: v.to_json() for k, v in self.features.items()},
            "drifted": self.drifted,
            "prediction_drift": pred,
            "traffic": {k: dict(v) for k, v in self.traffic.items()},
            "requests": {k: dict(v) for k, v in self.requests.items()},
            "performance": None if self.performance is None else self.performance.to_json(),
            "slices": None,
            "alerts": [a.to_json() for a in self.alerts],
            "skipped_features": list(self.skipped),
            "histograms": {k: dict(v) for k, v in self.histograms.items()},
            "notes": list(self.notes),
        }
        if self.performance is not None and self.performance.slices:
            out["slices"] = [s.to_json() for s in self.performance.slices]
        out.update(self.extra)
        return out


def decide(
    features: Mapping[str, ColumnDrift],
    prediction: ColumnDrift | None,
    performance: Performance | None,
    spec: MonitorSpec,
) -> tuple[Alert, ...]:
    """The alerts: each drifted feature, drifted predictions, and each metric that dropped."""
    out = []
    for name, d in features.items():
        if d.drifted:
            limit = spec.features.get(name, spec.thresholds).psi
            out.append(Alert("feature_drift", name,
                             f"feature {name!r} drifted ({', '.join(d.reasons)}; PSI "
                             f"{d.score:.3f}, {d.method} p={d.pvalue:.2g})", d.score, limit))  # fmt: skip
    if prediction is not None and prediction.drifted:
        out.append(Alert("prediction_drift", "prediction",
                         f"predictions drifted (PSI {prediction.score:.3f}, "
                         f"{prediction.method} p={prediction.pvalue:.2g})",
                         prediction.score, spec.thresholds.psi))  # fmt: skip
    if performance is not None and performance.labelled >= spec.min_samples:
        for metric, drop in performance.drops.items():
            if drop > spec.metric_drop:
                out.append(Alert("performance", metric,
                                 f"live {metric} {performance.live[metric]:.3f} is {drop:.3f} "
                                 f"worse than at test ({performance.test[metric]:.3f})",
                                 drop, spec.metric_drop))  # fmt: skip
    return tuple(out)


def live_counts(target: Target, reference: Reference, window: Window) -> LiveCounts:
    return scan(target.log_dir, reference, window, schema_counter=schema_counter(reference))


def check(
    name: str,
    spec: MonitorSpec,
    *,
    version: str | None = None,
    since: float | None = None,
    until: float | None = None,
    slices: bool = False,
    now: float | None = None,
) -> MonitorReport:
    """Compare the logged traffic of ``name``'s version with its reference."""
    target = locate(name, version)
    reference = reference_of(target)
    now = time.time() if now is None else now
    since = now - spec.window_s if since is None else since
    until = now if until is None else until
    window = Window(version=target.version, since=since, until=until)
    live = live_counts(target, reference, window)
    features = feature_drift(reference, live, spec)
    prediction = prediction_drift(reference, live, spec)
    performance = evaluate_feedback(target, reference, window, slices=slices, spec=spec)
    notes = []
    if live.rows < spec.min_samples:
        notes.append(
            f"{live.rows} logged rows in the window, fewer than monitor.min_samples "
            f"({spec.min_samples}): nothing is flagged"
        )
    pred_mix: dict[str, Mapping[str, float]] = {}
    if reference.prediction is not None and reference.prediction.kind == "categorical":
        pred_mix["reference"] = mix(reference.prediction)
        if live.prediction is not None:
            pred_mix["live"] = mix(reference.prediction, live.prediction.counts)
    return MonitorReport(
        model=name,
        version=target.version,
        n=live.rows,
        since=since,
        until=until,
        features=features,
        prediction=prediction,
        prediction_mix=pred_mix,
        traffic=live.traffic.summary(),
        requests=live.requests.summary(),
        performance=performance,
        alerts=decide(features, prediction, performance, spec),
        notes=tuple(notes),
        skipped=reference.skipped,
        histograms=_histograms(reference, live),
    )


def _histograms(reference: Reference, live: LiveCounts) -> dict[str, dict[str, list[object]]]:
    out = {
        name: histogram(dist, live.features.get(name)) for name, dist in reference.features.items()
    }
    if reference.prediction is not None:
        out[PREDICTIONS] = histogram(reference.prediction, live.prediction)
    return out


def evaluate_feedback(
    target: Target,
    reference: Reference,
    window: Window,
    *,
    slices: bool,
    spec: MonitorSpec | None = None,
) -> Performance | None:
    from engine.drift.feedback import read_labels
    from engine.monitor.performance import evaluate, labelled_rows

    labels = source_labels(spec) if spec is not None else {}
    labels.update(read_labels(target.feedback_dir))  # a label posted later wins
    if not labels:
        return None
    frame = labelled_rows(target.log_dir, window, labels, list(reference.features))
    return evaluate(frame, reference, slices=slices)


def source_labels(spec: MonitorSpec) -> dict[str, Any]:
    """request id -> label from the recipe's ``monitor.labels`` source (empty without)."""
    if spec.labels is None:
        return {}
    from engine.data.sources import read_source
    from engine.errors import UserError

    frame = read_source(spec.labels)
    missing = [c for c in (spec.labels_id, spec.labels_column) if c not in frame.columns]
    if missing:
        raise UserError(
            f"monitor.labels: the source has no column {missing[0]!r}",
            key_path="monitor.labels",
            hint=f"name its columns with id: and label: (it has {', '.join(map(str, frame.columns))})",
        )
    ids = frame[spec.labels_id].astype(str).tolist()
    values = [v.item() if hasattr(v, "item") else v for v in frame[spec.labels_column]]
    return dict(zip(ids, values, strict=True))
