"""BentoML per-request machinery a Sous service does not need on its prediction paths.

BentoML wraps every request in an OpenTelemetry span and writes an access-log line. With no
tracing exporter configured (BentoML's default) the span goes nowhere, yet creating it is
about a third of the server's CPU per prediction request under load; a Sous service then
leaves ``/predict`` and ``/predict_batch`` out of tracing (every answer carries its own
``request_id``). A service that keeps Sous's request log (``deploy.log_requests``) logs each
prediction request there, with its status, latency and request id, so BentoML's access line
for those paths is skipped too. Both stay as BentoML has them for every other path, and
tracing stays on everywhere as soon as an exporter is configured (``BENTOML_CONFIG``,
``BENTOML_CONFIG_OPTIONS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREDICTION_PATHS = ("/predict", "/predict_batch")


def tracing_exporter() -> str | None:
    """The tracing exporter BentoML's configuration names in this process, or None."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    value = BentoMLContainer.config.tracing.exporter_type.get()
    return str(value) if value else None


def service_options(config: Mapping[str, Any], exporter: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``@bentoml.service`` (``exporter``: the configured tracing
    exporter, :func:`tracing_exporter` in the served process)."""
    options: dict[str, Any] = {}
    if exporter is None:
        options["tracing"] = {"excluded_urls": list(PREDICTION_PATHS)}
    if config.get("log_requests"):
        options["logging"] = {"access": {"skip_paths": list(PREDICTION_PATHS)}}
    return options
