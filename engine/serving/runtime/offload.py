"""Run CPU-heavy, GIL-holding work (parsing a multi-megabyte JSON body) in a helper process.

A thread is not enough: ``json.loads`` holds the GIL for the whole parse, so a 6 MB body of
450,000 keys stalls every other request of the worker for as long as it takes. One helper
process per served worker, started on first use (spawned: nothing of the worker's state is
copied), takes those parses; it is in the server's process group and exits with it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

_pool: Executor | None = None
_lock = threading.Lock()


def _executor() -> Executor | None:
    """The helper process pool, or None where processes cannot be started (then: a thread)."""
    global _pool
    with _lock:
        if _pool is None:
            try:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                _pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn")
                )
            except (OSError, ImportError, NotImplementedError):
                return None
        return _pool


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in the helper process (``fn`` and ``args`` must pickle)."""
    from concurrent.futures.process import BrokenProcessPool

    global _pool
    pool = _executor()
    loop = asyncio.get_running_loop()
    if pool is not None:
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:  # the helper died (killed, out of memory): start afresh
            with _lock:
                _pool = None
    return await asyncio.to_thread(fn, *args)


def shutdown() -> None:
    """Stop the helper (tests, worker shutdown)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
