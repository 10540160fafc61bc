"""The serving and restart benchmarks stay runnable: their client, CPU reading and report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_restart  # noqa: E402
import bench_serving  # noqa: E402


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the benchmark's client expects
    seen: list[object] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        _Echo.seen.append(body)
        status = 200 if body.get("ok", True) else 503
        out = json.dumps({"prediction": 1}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Echo.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_keep_alive_client_sends_every_body_and_counts_errors(echo: str) -> None:
    calls = {"cpu": 0}

    def cpu() -> float:
        calls["cpu"] += 1
        return 0.5 * calls["cpu"]

    bodies = [{"a": 1.0}, {"a": 2.0, "ok": False}]
    r = bench_serving.load(echo, bodies, clients=2, seconds=0.3, cpu=cpu)
    assert r["clients"] == 2 and r["requests"] > 2
    assert 0 < r["errors"] < r["requests"]  # the 503s, and only them
    assert r["p50_ms"] <= r["p99_ms"]
    assert r["cpu_ms"] == pytest.approx(500.0 / r["requests"])
    assert {"a": 1.0} in _Echo.seen and {"a": 2.0, "ok": False} in _Echo.seen


def test_cpu_seconds_reads_a_process_and_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert bench_serving.cpu_seconds(os.getpid()) > 0
        assert bench_serving.cpu_seconds(2**22 + 7) == 0.0  # no such process
    finally:
        child.kill()
        child.wait()


def _row(clients: int, rps: float, p99: float, cpu: float = 1.0) -> dict[str, float]:
    return {"clients": clients, "requests": 100, "rps": rps, "p50_ms": p99 / 2,
            "p99_ms": p99, "errors": 0, "cpu_ms": cpu}  # fmt: skip


def test_report_prints_ratios_and_checks_and_fails_a_missed_target(capsys, tmp_path) -> None:
    results = {
        "minimal": [_row(c, 50, 500, 4.0) for c in (1, 8, 32)],
        "batched": [_row(c, 100, 300, 2.0) for c in (1, 8, 32)],
        "sous": [_row(1, 120, 20), _row(8, 300, 60), _row(32, 400, 150)],
        "sous-2w": [_row(1, 120, 20), _row(8, 500, 40), _row(32, 700, 90)],
    }
    code = bench_serving.report(results, tmp_path / "out.json")
    out = capsys.readouterr().out
    assert code == 1  # p99 at 32 clients is 150 ms
    assert "[FAIL] p99 at 32 clients <= 100 ms" in out
    assert "[PASS] throughput at 1 clients >= batched" in out
    assert "sous / batched throughput at 32 clients: 4.00x" in out
    assert "batched / sous server CPU per request at 8 clients: 2.00x" in out
    assert "2 workers / 1 worker throughput at 32 clients: 1.75x" in out
    assert json.loads((tmp_path / "out.json").read_text())["checks"]["zero errors"] is True


def test_help_says_how_to_run_the_full_and_the_quick_version() -> None:
    for script in ("bench_serving.py", "bench_restart.py"):
        out = subprocess.run(
            [sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True
        ).stdout
        assert "--quick" in out and "full" in out


def test_the_longest_silence_spans_the_restart() -> None:
    assert bench_restart.longest_gap([1.0, 2.0, 6.0, 6.5], start=0.5, end=7.0) == 4.0
    assert bench_restart.longest_gap([], start=0.0, end=3.0) == 3.0


def test_run_all_knows_the_restart_benchmark() -> None:
    import run_all

    assert run_all.BENCHES["restart"][0] == "bench_restart.py"
