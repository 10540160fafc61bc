"""A bounded load test on loopback: 32 clients for 15 s, good and bad requests, zero errors."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serving_support import package_iris, rows, sous_home

pytestmark = pytest.mark.slow

CLIENTS = 32
SECONDS = 15.0


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from engine.serving import BentoServer

    with sous_home(tmp_path_factory.mktemp("sous")):
        _, packaged = package_iris()
        with BentoServer(packaged.bento_tag) as server:
            yield server.url


BAD = [
    (b'{"sepal length (cm)": 1', 400),  # malformed
    (b'{"sepal length (cm)": NaN}', 400),
    (b'{"x": 1}', 400),  # unknown field
]


async def _client(url: str, body: list[dict[str, float]], seed: int, stop: float) -> Counter[str]:
    rng = random.Random(seed)
    outcome: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while time.monotonic() < stop:
            roll = rng.random()
            if roll < 0.1:
                content, want = rng.choice(BAD)
                r = await client.post(
                    "/predict", content=content, headers={"content-type": "application/json"}
                )
            elif roll < 0.2:
                r = await client.post("/predict_batch", json=rng.sample(body, 8))
                want = 200
            else:
                r = await client.post("/predict", json=rng.choice(body))
                want = 200
            outcome["ok" if r.status_code == want else f"HTTP {r.status_code}"] += 1
    return outcome


def test_concurrent_clients_see_no_errors(server_url: str) -> None:
    body = rows(50)

    async def main() -> list[Counter[str]]:
        stop = time.monotonic() + SECONDS
        return await asyncio.gather(*(_client(server_url, body, i, stop) for i in range(CLIENTS)))

    total: Counter[str] = sum(asyncio.run(main()), Counter())
    errors = {k: v for k, v in total.items() if k != "ok"}
    assert not errors, f"unexpected statuses under load: {errors} of {sum(total.values())}"
    assert total["ok"] > CLIENTS  # every client got through more than once
    # still healthy afterwards
    assert httpx.get(server_url + "/readyz").status_code == 200
    assert httpx.post(server_url + "/predict", json=body[0]).status_code == 200


def test_result_type_reaches_the_caller(server_url: str) -> None:
    out: Any = httpx.post(server_url + "/predict", json=rows(1)[0]).json()
    assert out["prediction"] in {"setosa", "versicolor", "virginica"}
