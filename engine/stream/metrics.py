"""Prometheus metrics of a running stream (``sous stream ... --metrics-port PORT``).

Each scrape reads the same numbers as ``sous stream status``: the consumers' checkpoints
(counters, checkpoint age, throughput) and the broker (lag, pending entries). A small
stdlib HTTP server in a thread: nothing on the scoring path.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.stream.context import StreamContext

COUNTERS = (
    ("events_in", "events read and committed (scored or dead-lettered)"),
    ("events_out", "events scored and written to the sink"),
    ("dead_lettered", "events sent to the dead-letter sink"),
    ("late", "events later than the allowed lateness"),
    ("replays", "replayed events dropped by event id"),
)


def render(ctx: StreamContext) -> str:
    """The Prometheus text exposition of the stream's status."""
    from engine.stream.status import status

    st = status(ctx)
    lines: list[str] = []
    base = f'stream="{_esc(st.name)}"'
    for field, help_ in COUNTERS:
        name = f"sous_stream_{field}_total"
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} counter"]
        for c in st.consumers:
            lines.append(f'{name}{{{base},consumer="{_esc(c.consumer)}"}} {getattr(c, field)}')
    gauges: list[tuple[str, str, Any]] = [
        ("pending", "entries delivered to the consumer and not yet acknowledged", "pending"),
        ("checkpoint_age_seconds", "seconds since the last checkpoint", "checkpoint_age_s"),
        ("throughput_events_per_second", "events per second since start", "throughput_eps"),
    ]
    for short, help_, attr in gauges:
        name = f"sous_stream_{short}"
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
        for c in st.consumers:
            value = getattr(c, attr)
            if value is not None:
                lines.append(f'{name}{{{base},consumer="{_esc(c.consumer)}"}} {value}')
    lines += ["# HELP sous_stream_lag entries in the stream not yet delivered to the group",
              "# TYPE sous_stream_lag gauge"]  # fmt: skip
    if st.lag is not None:
        lines.append(f"sous_stream_lag{{{base}}} {st.lag}")
    return "\n".join(lines) + "\n"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def serve_metrics(ctx: StreamContext, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``/metrics`` in a daemon thread; ``.shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = render(ctx).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="sous-stream-metrics", daemon=True).start()
    return server
