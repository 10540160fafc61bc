"""Claim fencing against a real redis-server: a consumer that was slow (not dead) and whose
entries another consumer claimed keeps none of them; a fenced batch cannot be claimed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from stream_support import produce, redis_server

from engine.specs import StreamEndpointSpec, frozen_map
from engine.stream.redis_source import RedisSource


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with redis_server() as u:
        yield u


def _source(url: str, stream: str, consumer: str) -> RedisSource:
    spec = StreamEndpointSpec("redis", frozen_map({"url": url, "stream": stream, "group": "g"}))
    return RedisSource(spec, consumer)


def test_claimed_entries_are_fenced_off_the_slow_consumer(url: str) -> None:
    produce(url, "f1", [{"event_id": f"e{i}", "x": i} for i in range(20)])
    slow, other = _source(url, "f1", "slow"), _source(url, "f1", "other")
    events = slow.read(20, 100)
    assert len(events) == 20
    mine = {e.broker_id for e in events}
    time.sleep(0.3)  # slow: its entries idle past the claim timeout
    claimed = other.claim_idle(200, 8)
    assert len(claimed) == 8
    taken = {e.broker_id for e in claimed}
    assert slow.fence(events) == mine - taken  # the slow one keeps only what it still owns
    assert other.fence(claimed) == taken
    slow.close(), other.close()


def test_a_fenced_batch_cannot_be_claimed_while_it_commits(url: str) -> None:
    produce(url, "f2", [{"event_id": f"e{i}"} for i in range(5)])
    a, b = _source(url, "f2", "a"), _source(url, "f2", "b")
    events = a.read(5, 100)
    time.sleep(0.3)  # idle past the timeout ...
    assert a.fence(events) == {e.broker_id for e in events}  # ... but the fence renews
    assert b.claim_idle(200, 10) == []
    pending = a.client.xpending_range("f2", "g", "-", "+", 10)
    assert {p["consumer"] for p in pending} == {b"a"}
    assert all(p["times_delivered"] == 1 for p in pending)  # the fence is no redelivery
    assert a.fence([]) == set()
    a.close(), b.close()
