"""How Sous prints a number to people: one formatter for the CLI's tables and the run's lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def number(v: Any) -> str:
    """A metric as people read it: 4 significant decimals, no float noise."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return "-" if v is None else str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:.4f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def metrics_line(metrics: Mapping[str, Any]) -> str:
    """``accuracy 0.9667, f1 0.9666``: a metrics mapping on one line, in its own order."""
    return ", ".join(f"{name} {number(value)}" for name, value in metrics.items()) or "-"


def params_line(params: Mapping[str, Any]) -> str:
    """``max_depth=5, n_estimators=50``: parameters sorted by name, numbers formatted."""
    return ", ".join(f"{k}={number(v)}" for k, v in sorted(params.items())) or "-"
