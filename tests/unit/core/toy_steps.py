"""Tiny step functions for testing plan / compile / executors without the ML steps."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    left: int
    right: int


def source(*, n: int) -> list[int]:
    return list(range(n))


def split(*, values: list[int]) -> Pair:
    return Pair(sum(values[::2]), sum(values[1::2]))


def add(*, a: int, b: int) -> int:
    return a + b


def slow_add(*, a: int, b: int, seconds: float) -> int:
    time.sleep(seconds)
    return a + b


def pid(*, value: int) -> int:
    return os.getpid()


def boom(*, value: int) -> int:
    raise ValueError(f"boom on {value}")


def env(*, name: str) -> tuple[str | None, int]:
    """The worker's value of an environment variable, and its parent's pid."""
    return os.environ.get(name), os.getppid()


class Blob:
    """A value whose lifetime a test can watch (weakref)."""

    def __init__(self, n: int):
        self.n = n


SEEN: list = []  # weakrefs to the blobs `follow` read


def blob(*, n: int) -> Blob:
    return Blob(n)


def follow(*, blob: Blob) -> Blob:
    import weakref

    SEEN.append(weakref.ref(blob))
    return Blob(blob.n + 1)


def released(*, blob: Blob) -> bool:
    """True when every blob `follow` read before has been let go."""
    import gc

    gc.collect()
    return all(ref() is None for ref in SEEN)


def imported(*, names: tuple[str, ...]) -> dict[str, bool]:
    """Which of these modules the process had imported before this step ran."""
    import sys

    return {name: name in sys.modules for name in names}


def hold_mb(*, mb: int) -> int:
    """Touch ``mb`` megabytes, then let them go (a step with a known peak)."""
    block = bytearray(mb * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])
    return len(block) // (1024 * 1024)
