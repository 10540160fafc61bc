"""Adaptive micro-batching for the served model.

A forest's ``predict`` costs mostly per call, not per row: answering 32 concurrent
one-record requests with one call of 32 rows is far cheaper than 32 calls. Requests queue
while the previous batch computes; the next batch takes whatever is waiting (up to
``max_batch_size`` rows). With one caller at a time nothing waits, so an idle server answers
at once. When the last batch had several callers, the next one waits a little (at most
``max_wait_ms``, and at most half a model call) until as many callers are back, since
clients that were just answered usually return together. A request that waited longer than
``max_latency_ms`` before its batch started is refused with :class:`Overloaded` (HTTP 503)
instead of piling up.

A batch runs in a worker thread, so the event loop keeps reading requests meanwhile, except
one lone small submission with nothing queued behind it whose model calls have been quick
(under ``inline_max_ms``): handing it to a thread and waking the loop afterwards costs more
than the call itself (a one-record forest call is ~1 ms), and nothing is waiting to overlap
with it. The first call, and any call after a slow one, runs in a thread, so a model that
hangs cannot hold the event loop (``/readyz`` still answers that it is not ready).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

BatchFn = Callable[[list[Any]], Sequence[Any]]


class Overloaded(Exception):
    """A request's deadline (``max_latency_ms``) passed before the model could take it."""


@dataclass
class _Item:
    rows: list[Any]
    future: asyncio.Future[list[Any]]
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Merges concurrent submissions into calls of ``fn`` on lists of rows, one call at a time."""

    def __init__(
        self,
        fn: BatchFn,
        *,
        max_batch_size: int = 64,
        max_latency_ms: float = 10_000,
        max_wait_ms: float = 5.0,
        inline_max_rows: int = 4,
        inline_max_ms: float = 10.0,
    ):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_ms / 1000.0
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.max_wait_s = max_wait_ms / 1000.0
        self.inline_max_rows = inline_max_rows
        self.inline_max_s = inline_max_ms / 1000.0
        self.batches = 0  # calls of fn, for tests and metrics
        self.inline_batches = 0  # of which on the event loop (lone, small, quick)
        self.waits = 0  # batches held open for stragglers (never with one caller at a time)
        self.last_batch_rows = 0
        self._carry: _Item | None = None
        self._last_items = 1
        self._last_duration = 0.0

    async def submit(self, rows: list[Any]) -> list[Any]:
        """The results of ``fn`` for ``rows``, in order, computed in some shared batch."""
        if not rows:
            return []
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run(self._queue))
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(list(rows), fut))
        return await fut

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            items = await self._collect(queue)
            await self._call(items)

    async def _collect(self, queue: asyncio.Queue[_Item]) -> list[_Item]:
        """The next batch: what is queued, plus a short wait for stragglers when the last
        batch showed concurrent callers (never when traffic is one request at a time)."""
        loop = asyncio.get_running_loop()
        first, self._carry = (self._carry, None) if self._carry else (await queue.get(), None)
        items, n = [first], len(first.rows)
        expected = self._last_items  # callers seen together last time
        window = min(self.max_wait_s, 0.5 * self._last_duration) if expected > 1 else 0.0
        deadline = loop.time() + window
        waited = False
        while n < self.max_batch_size:
            if not queue.empty():
                nxt = queue.get_nowait()
            elif len(items) >= expected or loop.time() >= deadline:
                break
            else:
                if not waited:
                    waited = True
                    self.waits += 1
                try:
                    nxt = await asyncio.wait_for(queue.get(), deadline - loop.time())
                except TimeoutError:
                    break
            if n + len(nxt.rows) > self.max_batch_size:
                self._carry = nxt  # too big for this batch: it opens the next one
                break
            items.append(nxt)
            n += len(nxt.rows)
        return items

    async def _call(self, items: list[_Item]) -> None:
        now = time.perf_counter()
        live = []
        for it in items:
            if it.future.done():  # the client went away
                continue
            if now - it.enqueued > self.max_latency_s:
                it.future.set_exception(Overloaded("server is overloaded: try again later"))
            else:
                live.append(it)
        if not live:
            return
        rows = [r for it in live for r in it.rows]
        inline = self._inline(live, rows)
        t0 = time.perf_counter()
        try:
            out = self.fn(rows) if inline else await asyncio.to_thread(self.fn, rows)
        except Exception as exc:
            self._last_duration = time.perf_counter() - t0
            if len(live) == 1:
                if not live[0].future.done():
                    live[0].future.set_exception(exc)
            else:  # one caller's bad row must not fail the others: retry them one by one
                for it in live:
                    await self._call_one(it)
            return
        self.batches += 1
        self.inline_batches += inline
        self.last_batch_rows = len(rows)
        self._last_items = len(live)
        self._last_duration = time.perf_counter() - t0
        start = 0
        for it in live:
            end = start + len(it.rows)
            if not it.future.done():
                it.future.set_result(list(out[start:end]))
            start = end

    def _inline(self, live: list[_Item], rows: list[Any]) -> bool:
        """Whether this batch runs on the event loop: one caller, few rows, nothing queued
        behind it, and the last model call (which ran) was quick."""
        return (
            len(live) == 1
            and len(rows) <= self.inline_max_rows
            and self._carry is None
            and (self._queue is None or self._queue.empty())
            and 0.0 < self._last_duration < self.inline_max_s
        )

    async def _call_one(self, it: _Item) -> None:
        try:
            out = await asyncio.to_thread(self.fn, it.rows)
        except Exception as exc:
            if not it.future.done():
                it.future.set_exception(exc)
            return
        if not it.future.done():
            it.future.set_result(list(out))

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
