"""The BentoML machinery a Sous service leaves off its prediction paths, and when it keeps it."""

from __future__ import annotations

import os
import subprocess
import sys

from engine.serving.runtime.framework import PREDICTION_PATHS, service_options


def test_no_exporter_leaves_prediction_paths_out_of_tracing() -> None:
    opts = service_options({"log_requests": False})
    assert opts == {"tracing": {"excluded_urls": list(PREDICTION_PATHS)}}  # access log kept


def test_a_configured_exporter_keeps_every_span() -> None:
    assert "tracing" not in service_options({}, exporter="otlp")


def test_the_request_log_replaces_the_access_line_of_prediction_paths_only() -> None:
    opts = service_options({"log_requests": True}, exporter="zipkin")
    assert opts == {"logging": {"access": {"skip_paths": list(PREDICTION_PATHS)}}}


def test_the_exporter_is_read_from_bentomls_configuration_in_the_process() -> None:
    code = (
        "from engine.serving.runtime.framework import tracing_exporter; print(tracing_exporter())"
    )
    env = {**os.environ, "BENTOML_CONFIG_OPTIONS": "tracing.exporter_type=in_memory"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "in_memory", out.stderr
    env.pop("BENTOML_CONFIG_OPTIONS")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "None", out.stderr
