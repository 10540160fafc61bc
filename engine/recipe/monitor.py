"""The recipe's ``monitor:`` section -> :class:`~engine.specs.MonitorSpec`.

```yaml
monitor:
  window: 1d                 # rows read by default; alerts are sent once per window
  min_samples: 100           # fewer live rows: reported, never flagged
  thresholds: {psi: 0.2, p_value: 0.01, missing_rate: 0.1, out_of_schema: 0.01}
  features: {age: {psi: 0.3}, customer_id: {ignore: true}}   # per-feature overrides
  metric_drop: 0.05          # live metric worse than test by more than this: alert
  alerts: {log: true, webhook: "http://alerts.internal/hook", timeout_s: 5}
  on_alert: retrain          # none | retrain
  live_rows: 1000            # the server's rolling window for its drift gauges
  labels: {kind: csv, path: outcomes.csv, id: request_id, label: churned}   # optional
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine import specs
from engine.recipe.problems import Issues, Section

KEYS = frozenset(
    {"window", "min_samples", "thresholds", "features", "metric_drop", "alerts", "on_alert",
     "live_rows", "labels"}
)  # fmt: skip
THRESHOLD_KEYS = frozenset({"psi", "p_value", "missing_rate", "out_of_schema", "ignore"})
ALERT_KEYS = frozenset({"log", "webhook", "timeout_s"})
ON_ALERT = ("none", "retrain")


def _share(section: Section, key: str, default: float) -> float:
    return float(section.number(key, default, low=0, high=1, low_inclusive=True))


def _thresholds(
    section: Section, base: specs.DriftThresholds = specs.DriftThresholds()
) -> specs.DriftThresholds:
    return specs.DriftThresholds(
        psi=section.number("psi", base.psi, low=0, low_inclusive=True),
        p_value=section.number("p_value", base.p_value, low=0, high=1),
        missing_rate=_share(section, "missing_rate", base.missing_rate),
        out_of_schema=_share(section, "out_of_schema", base.out_of_schema),
        ignore=section.flag("ignore", base.ignore),
    )


def monitor_spec(top: Section, issues: Issues) -> specs.MonitorSpec:
    """Read ``monitor:`` (every key optional); problems are recorded in ``issues``."""
    from engine.drift.durations import parse_duration

    m = top.mapping("monitor", KEYS)
    window = specs.MonitorSpec.window_s
    raw_window = m.raw("window")
    if raw_window is not None:
        try:
            window = parse_duration(raw_window)
        except ValueError:
            issues.wrong(m.key("window"), raw_window, "a duration such as 1h, 30m or 7d")
    base = _thresholds(m.mapping("thresholds", THRESHOLD_KEYS))
    per_feature = m.mapping("features")
    features = {
        name: _thresholds(per_feature.mapping(name, THRESHOLD_KEYS), base)
        for name in per_feature.data
    }
    alerts = m.mapping("alerts", ALERT_KEYS)
    webhook = alerts.text("webhook")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        issues.wrong(alerts.key("webhook"), webhook, "an http:// or https:// URL")
        webhook = None
    return specs.MonitorSpec(
        window_s=window,
        min_samples=m.integer("min_samples", 100, minimum=1),
        thresholds=base,
        features=specs.frozen_map(features),
        metric_drop=m.number("metric_drop", 0.05, low=0, low_inclusive=True),
        alerts=specs.MonitorAlertsSpec(
            log=alerts.flag("log", True),
            webhook=webhook,
            timeout_s=alerts.number("timeout_s", 5.0, low=0),
        ),
        on_alert=m.text("on_alert", "none", choices=ON_ALERT),
        live_rows=m.integer("live_rows", 1000, minimum=10),
        **_labels(m.mapping("labels"), issues),
    )


def _labels(section: Section, issues: Issues) -> dict[str, Any]:
    """``labels: {kind, ...source options, id, label}``: a Sous source of true labels, joined
    on the request id (relative paths are read from the recipe's directory)."""
    if not section.data:
        return {}
    kind = section.text("kind", required=True)
    id_col = section.text("id", "request_id")
    label_col = section.text("label", "label")
    if kind is None:
        return {}
    options = {k: v for k, v in section.data.items() if k not in ("kind", "id", "label")}
    source = specs.SourceSpec(name="monitor.labels", kind=kind, options=specs.frozen_map(options))
    return {"labels": source, "labels_id": id_col, "labels_column": label_col}


def from_config(config: Mapping[str, Any] | None, source: str | None = None) -> specs.MonitorSpec:
    """The monitor spec of a resolved recipe config (a run record's ``config``); raises
    RecipeError listing every problem."""
    from engine.errors import RecipeError

    issues = Issues(file=source)
    spec = monitor_spec(Section(issues, dict(config or {}), ""), issues)
    if issues.problems:
        raise RecipeError(issues.problems, recipe=source)
    return spec
