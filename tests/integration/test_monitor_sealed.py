"""Encryption at rest of a real server's request log (issue 11 with 12): with
``$SOUS_ENCRYPTION_KEY`` set, no logged feature value is on disk in plaintext, and
``sous monitor`` (given the key) reports the traffic as without encryption."""

from __future__ import annotations

import time

import httpx
import pytest
from monitor_support import SALT, client_rows, monitor_cli, package_monitored
from serving_support import sous_home

pytestmark = pytest.mark.slow

MARKER = "region-marker-c41b"


def test_a_sealed_request_log_is_monitored_and_holds_no_plain_value(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from cryptography.fernet import Fernet

    from engine.serving import BentoServer

    home = tmp_path_factory.mktemp("sous")
    key = Fernet.generate_key().decode()
    with sous_home(home, SOUS_PII_SALT=SALT, SOUS_ENCRYPTION_KEY=key):
        _, packaged, raw = package_monitored()
        body = client_rows(raw, 120, seed=1)
        for row in body[:5]:
            row["region"] = MARKER
        t0 = time.time()
        with BentoServer(packaged.bento_tag) as server, httpx.Client(base_url=server.url) as c:
            answers = [c.post("/predict_batch", json=body[i : i + 40]) for i in (0, 40, 80)]
            answers.append(c.post("/predict", json={**body[0], "extra": MARKER}))
        assert [r.status_code for r in answers] == [200, 200, 200, 400]
        logs = list((home / "serving" / "iris" / "requests").glob("*.parquet"))
        assert logs
        for path in logs:
            data = path.read_bytes()
            assert data.startswith(b"SOUS-SEALED") and MARKER.encode() not in data
            assert b"user1@example.org" not in data and b"north" not in data

        code, report = monitor_cli("--since", str(t0 - 1))
        assert code in (0, 3)
        assert report["n"] == 120
        req = report["requests"][f"{packaged.version}/champion"]
        assert (req["requests"], req["rows"], req["errors_4xx"]) == (4, 120, 1)
        assert report["features"]["region"]["out_of_schema"] == 5  # the marker rows, read back
