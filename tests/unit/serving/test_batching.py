"""The micro-batcher merges concurrent requests, keeps order, and enforces its deadline."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from engine.serving.runtime.batching import MicroBatcher, Overloaded


def _recording(calls: list[list[int]], delay: float = 0.0):
    def fn(rows: list[int]) -> list[int]:
        calls.append(list(rows))
        time.sleep(delay)
        return [r * 10 for r in rows]

    return fn


def test_concurrent_submissions_share_batches_and_keep_order() -> None:
    calls: list[list[int]] = []
    b = MicroBatcher(_recording(calls, delay=0.02), max_batch_size=64)

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(b.submit([i, i + 100]) for i in range(20)))

    out = asyncio.run(main())
    assert out == [[i * 10, (i + 100) * 10] for i in range(20)]
    assert len(calls) < 20  # batched: fewer calls than requests
    assert sum(len(c) for c in calls) == 40


@pytest.mark.parametrize(
    ("max_batch_size", "sizes"),
    [
        pytest.param(4, [1, 1, 1, 1, 1, 1, 1, 1], id="singles"),
        pytest.param(4, [3, 3, 3], id="pairs-never-exceed"),
        pytest.param(4, [10, 1], id="oversized-alone"),
    ],
)
def test_batches_respect_max_batch_size(max_batch_size: int, sizes: list[int]) -> None:
    calls: list[list[int]] = []
    b = MicroBatcher(_recording(calls, delay=0.01), max_batch_size=max_batch_size)

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(b.submit(list(range(n))) for n in sizes))

    out = asyncio.run(main())
    assert out == [[r * 10 for r in range(n)] for n in sizes]
    oversized = [list(range(n)) for n in sizes if n > max_batch_size]
    for c in calls:
        assert len(c) <= max_batch_size or c in oversized  # only a lone big request exceeds it


def test_deadline_refuses_requests_that_waited_too_long() -> None:
    gate = threading.Event()

    def slow(rows: list[int]) -> list[int]:
        gate.wait(2)
        return rows

    b = MicroBatcher(slow, max_batch_size=1, max_latency_ms=50)

    async def main() -> list[object]:
        first = asyncio.ensure_future(b.submit([1]))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(b.submit([2]))
        await asyncio.sleep(0.2)  # second waits past its 50 ms deadline
        gate.set()
        return await asyncio.gather(first, second, return_exceptions=True)

    first, second = asyncio.run(main())
    assert first == [1]
    assert isinstance(second, Overloaded)


def test_model_errors_reach_every_caller_of_the_batch_and_worker_survives() -> None:
    def fn(rows: list[int]) -> list[int]:
        if 13 in rows:
            raise ValueError("unlucky")
        return rows

    b = MicroBatcher(fn, max_batch_size=8)

    async def main() -> tuple[list[object], list[int]]:
        res = await asyncio.gather(b.submit([13]), return_exceptions=True)
        return res, await b.submit([1, 2])

    res, after = asyncio.run(main())
    assert isinstance(res[0], ValueError)
    assert after == [1, 2]


def test_empty_submission_and_invalid_size() -> None:
    b = MicroBatcher(lambda rows: rows)
    assert asyncio.run(b.submit([])) == []
    with pytest.raises(ValueError, match="max_batch_size"):
        MicroBatcher(lambda rows: rows, max_batch_size=0)


def test_stragglers_join_the_batch_once_concurrency_was_seen() -> None:
    calls: list[list[int]] = []
    b = MicroBatcher(_recording(calls, delay=0.02), max_batch_size=64, max_wait_ms=20)

    async def staggered(base: int) -> None:
        async def one(i: int) -> list[int]:
            await asyncio.sleep(0.002 * i)  # arrive 2 ms apart
            return await b.submit([base + i])

        await asyncio.gather(*(one(i) for i in range(4)))

    async def main() -> None:
        await asyncio.gather(*(b.submit([i]) for i in range(4)))  # 4 callers seen together
        calls.clear()
        await staggered(100)

    asyncio.run(main())
    assert calls == [[100, 101, 102, 103]]  # one call: the batcher waited for the stragglers


def test_single_callers_never_wait() -> None:
    b = MicroBatcher(lambda rows: rows, max_batch_size=64, max_wait_ms=500)

    async def main() -> None:
        for i in range(5):
            assert await b.submit([i]) == [i]

    asyncio.run(main())
    assert b.batches == 5
    assert b.waits == 0  # an idle request is never held for stragglers


def test_waits_are_counted_once_concurrency_was_seen() -> None:
    b = MicroBatcher(_recording([], delay=0.02), max_batch_size=64, max_wait_ms=20)

    async def main() -> None:
        await asyncio.gather(*(b.submit([i]) for i in range(4)))  # 4 callers seen together
        await b.submit([9])  # alone now: waits for the 3 others, who never come

    asyncio.run(main())
    assert b.waits == 1


def _threads_of(calls: list[int], delay: float = 0.0):
    def fn(rows: list[int]) -> list[int]:
        calls.append(threading.get_ident())
        time.sleep(delay)
        return rows

    return fn


def test_a_lone_quick_call_runs_on_the_event_loop_after_the_first() -> None:
    threads: list[int] = []
    b = MicroBatcher(_threads_of(threads), inline_max_ms=1000)

    async def main() -> int:
        for i in range(4):
            await b.submit([i])
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert threads[0] != loop_thread  # the first call: in a thread (it might hang)
    assert threads[1:] == [loop_thread] * 3
    assert (b.batches, b.inline_batches) == (4, 3)


def test_slow_big_or_concurrent_calls_stay_in_a_thread() -> None:
    slow: list[int] = []
    b = MicroBatcher(_threads_of(slow, delay=0.01), inline_max_ms=1)

    async def lone() -> int:
        for i in range(3):
            await b.submit([i])
        return threading.get_ident()

    assert asyncio.run(lone()) not in slow  # its calls took longer than inline_max_ms
    assert b.inline_batches == 0

    big: list[int] = []
    b = MicroBatcher(_threads_of(big), inline_max_ms=1000, inline_max_rows=2)

    async def many_rows() -> int:
        await b.submit([0])
        await b.submit([1, 2, 3])
        return threading.get_ident()

    assert asyncio.run(many_rows()) not in big
    assert b.inline_batches == 0

    together: list[int] = []
    b = MicroBatcher(_threads_of(together, delay=0.005), inline_max_ms=1000)

    async def concurrent() -> int:
        await b.submit([0])
        await asyncio.gather(*(b.submit([i]) for i in range(8)))
        return threading.get_ident()

    loop_thread = asyncio.run(concurrent())
    assert b.batches >= 2
    assert together.count(loop_thread) <= 1  # only a batch with nothing queued behind it


def test_a_bad_row_fails_only_its_own_request() -> None:
    def fn(rows: list[int]) -> list[int]:
        time.sleep(0.01)
        if any(r < 0 for r in rows):
            raise ValueError("negative")
        return rows

    b = MicroBatcher(fn, max_batch_size=64)

    async def main() -> list[object]:
        return await asyncio.gather(
            *(b.submit([i]) for i in (1, 2, 3)),  # warm-up batch
            *(b.submit([i]) for i in (4, -5, 6)),
            return_exceptions=True,
        )

    out = asyncio.run(main())
    assert out[:3] == [[1], [2], [3]]
    assert out[3] == [4] and out[5] == [6]
    assert isinstance(out[4], ValueError)
