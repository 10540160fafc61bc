"""Serving that survives a restart (issue 16): a real ``bentoml serve`` stopped with SIGTERM
under load and started again on the same port. In-flight requests are drained, the request
log is flushed, and a client that retries idempotently on connection errors sees no failed
request, while every answer it got has its row in the request log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_support import package_iris, rows, sous_home

pytestmark = pytest.mark.slow

CLIENTS = 4
RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@pytest.fixture(scope="module")
def bento(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sous")
    with sous_home(home):
        _, packaged = package_iris(log_requests=True)
        yield {"home": home, "tag": packaged.bento_tag}


class Client(threading.Thread):
    """Posts one record at a time until stopped; retries a request on connection errors
    (the request never got an answer: predicting it again is harmless)."""

    def __init__(self, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.stop = url, stop
        self.ok: list[str] = []  # request ids answered 200
        self.failed: list[str] = []  # anything but 200, or a non-connection error
        self.retries = 0

    def run(self) -> None:
        body = rows(20)
        with httpx.Client(base_url=self.url, timeout=60) as client:
            i = 0
            while not self.stop.is_set():
                self.one(client, body[i % len(body)])
                i += 1

    def one(self, client: httpx.Client, row: dict[str, float]) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                r = client.post("/predict", json=row)
            except RETRYABLE:
                self.retries += 1
                time.sleep(0.05)
                continue
            except httpx.HTTPError as exc:
                self.failed.append(repr(exc))
                return
            if r.status_code == 200:
                self.ok.append(r.json()["request_id"])
            else:
                self.failed.append(f"HTTP {r.status_code}: {r.text[:200]}")
            return
        self.failed.append("no answer in 120 s")


def _logged_ids(home: Path) -> list[str]:
    import pandas as pd

    files = sorted((home / "serving" / "iris" / "requests").glob("*.parquet"))
    if not files:
        return []
    frame = pd.concat([pd.read_parquet(f, columns=["_request_id"]) for f in files])
    return [str(v) for v in frame["_request_id"].dropna()]


def _wait_for_answers(clients: list[Client], more: int) -> None:
    target = sum(len(c.ok) for c in clients) + more
    deadline = time.monotonic() + 60
    while sum(len(c.ok) for c in clients) < target and time.monotonic() < deadline:
        time.sleep(0.05)


def test_sigterm_under_load_loses_no_request_and_no_log_row(bento: dict[str, Any]) -> None:
    from engine.serving import BentoServer

    first = BentoServer(bento["tag"])
    with first:
        stop = threading.Event()
        clients = [Client(first.url, stop) for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        try:
            _wait_for_answers(clients, 200)
            first.stop()  # SIGTERM to the whole group, with requests in flight
            with BentoServer(bento["tag"], port=first.port) as second:
                _wait_for_answers(clients, 200)
                stop.set()
                for c in clients:
                    c.join(timeout=120)
                second.stop()  # flushes the second server's log
        finally:
            stop.set()
    failed = [f for c in clients for f in c.failed]
    answered = [rid for c in clients for rid in c.ok]
    assert failed == []
    assert len(answered) >= 400
    logged = set(_logged_ids(bento["home"]))
    lost = [rid for rid in answered if rid not in logged]
    assert lost == [], f"{len(lost)} of {len(answered)} answered requests missing from the log"
