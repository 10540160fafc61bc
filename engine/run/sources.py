"""Where a run's sources get their fingerprints, and why a query runs once.

A load node's key hashes its source's data fingerprint. For files that is a content hash,
cheap to take before running. For a query (a source kind with ``read_fingerprinted``: SQL)
the fingerprint is the rows themselves: taking it means running the query. So:

- ``sous plan`` (:class:`AtRunTime`) runs no user query: such a source is shown as
  fingerprinted at run time, and what reads it as to run.
- a run (:class:`ReadOnce`) reads the query once, with its retries: the rows' fingerprint
  keys the load node, and the rows, PII masked as the load step would, are stored as that
  node's output. The load task then finds its output cached and the query is not run again.
"""

from __future__ import annotations

import time
from typing import Any

from engine.specs import RecipeSpec, SourceSpec
from engine.store.cache import ArtifactCache, EntryMeta

AT_RUN_TIME = "fingerprinted at run time"


def reads_to_fingerprint(source: SourceSpec) -> bool:
    """True when fingerprinting ``source`` means reading all of it (SQL)."""
    from engine.data.sources import default_sources

    kind = default_sources().get(source.kind, key_path=f"data.sources.{source.name}.kind")
    return kind.read_fingerprinted is not None


def _content_fingerprint(source: SourceSpec) -> str:
    from engine.steps.data import fingerprint

    return fingerprint(source)


class AtRunTime:
    """Salts for a plan that is only shown: no user query runs. ``keys`` are the load nodes
    whose fingerprint (and so whose readers' keys) is known only when the run reads them."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self._deferred: set[str] = set()  # names of the sources given AT_RUN_TIME

    def salt(self, source: SourceSpec) -> str:
        if reads_to_fingerprint(source):
            self._deferred.add(source.name)
            return AT_RUN_TIME
        return _content_fingerprint(source)

    def added(self, source: SourceSpec, key: str) -> None:
        if source.name in self._deferred:  # decided in salt(): no second registry load
            self.keys.add(key)


class ReadOnce:
    """Salts for a run: a query is read here, once (see the module docstring)."""

    def __init__(self, spec: RecipeSpec, cache: ArtifactCache):
        self.spec = spec
        self.cache = cache
        self.read: dict[str, tuple[Any, float, float]] = {}  # source name -> rows, wall, cpu
        self.seeded: set[str] = set()  # load nodes this run computed here (for its record)

    def salt(self, source: SourceSpec) -> str:
        if not reads_to_fingerprint(source):
            return _content_fingerprint(source)
        from engine.data.sources import read_source_fingerprinted

        wall0, cpu0 = time.perf_counter(), time.process_time()
        frame, fingerprint = read_source_fingerprinted(source)
        self.read[source.name] = (
            frame,
            time.perf_counter() - wall0,
            time.process_time() - cpu0,
        )
        return fingerprint

    def added(self, source: SourceSpec, key: str) -> None:
        """Store the rows read for ``source`` as its load node's output (unless a run
        already did: the same rows give the same key)."""
        read = self.read.pop(source.name, None)
        if read is None or self.cache.has(key):
            return
        from engine.steps.data import masked

        frame, wall, cpu = read
        data = self.spec.data
        value = masked(frame, pii=data.pii, salt_env=data.pii_salt_env)
        self.cache.save(key, value, EntryMeta(key, f"load:{source.name}", wall, cpu, 0.0))
        self.seeded.add(key)
