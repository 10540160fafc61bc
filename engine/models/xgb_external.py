"""XGBoost on data larger than any worker's memory: external memory on each worker.

``xgboost.dask`` gathers each worker's partitions in memory before it quantises them, so a
worker needs its whole share of the table in memory at once. Here each worker instead streams
its own parquet files, one at a time, into an :class:`xgboost.ExtMemQuantileDMatrix`: XGBoost
quantises each batch and caches the quantised pages on the worker's local disk, so a worker
holds one file's rows plus the pages it is reading. The workers all-reduce their histograms
and validation metrics through XGBoost's own collective (a :class:`xgboost.tracker.RabitTracker`
started by the fit), so every worker builds the same trees and early stopping sees every
validation row. Without a cluster the same streaming trains in this process.

The files are dealt to the workers round-robin (a :class:`Shard` each). One training task is
pinned to each worker for the whole fit; XGBoost's all-reduce cannot go on without one of them,
so a worker lost during the fit fails the fit with a clear error instead of waiting forever.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import RunError
from engine.models.dask_boost import Reader

_POLL_S = 1.0  # how often the fit checks that its workers are still there


@dataclass(frozen=True)
class Shard:
    """The train and valid files one worker streams."""

    train: tuple[str, ...]
    valid: tuple[str, ...]


@dataclass(frozen=True)
class ShardResult:
    """What one worker's training task returns: the Booster (the same on every worker), and
    what it streamed, so the caller can check and report that every row was trained on."""

    booster: Any
    rows: int
    largest_batch: int


def shards(train: Sequence[str], valid: Sequence[str], workers: int) -> list[Shard]:
    """Deal the files to at most ``workers`` shards, round-robin. Every shard gets at least
    one train file, and one valid file when there are valid files (XGBoost's distributed
    evaluation needs rows on every worker), so there are never more shards than files."""
    n = max(1, min(workers, len(train), len(valid) if valid else len(train)))
    return [Shard(tuple(train[i::n]), tuple(valid[i::n])) for i in range(n)]


def _batches(files: Sequence[str], read: Reader, cache_prefix: str) -> Any:
    """A :class:`xgboost.DataIter` over ``files``, one file in memory at a time."""
    import xgboost as xgb

    class Batches(xgb.DataIter):
        def __init__(self) -> None:
            super().__init__(cache_prefix=cache_prefix, release_data=True)
            self.position = 0
            self.rows = 0
            self.largest = 0
            self.passes = 0

        def next(self, input_data: Callable[..., None]) -> bool:
            if self.position == len(files):
                return False
            x, y = read(files[self.position])
            if self.passes == 0:  # count the first pass only: XGBoost may read twice
                self.rows += len(y)
            self.largest = max(self.largest, len(y))
            input_data(data=x, label=y)
            self.position += 1
            return True

        def reset(self) -> None:
            self.position = 0
            self.passes += 1 if self.rows else 0

    return Batches()


def train_shard(
    shard: Shard,
    read: Reader,
    params: dict[str, Any],
    rounds: int,
    early_stopping_rounds: int | None,
    comm_args: dict[str, Any] | None = None,
) -> ShardResult:
    """Train on one shard: inside a Dask task with ``comm_args`` (the tracker's), as one rank
    of the collective; without them, alone in this process. The quantised pages live in a
    temporary folder (the worker's local directory) removed when the fit ends."""
    import xgboost as xgb

    scratch = None
    if comm_args is not None:
        from distributed import get_worker

        scratch = get_worker().local_directory
    with tempfile.TemporaryDirectory(prefix="sous-xgb-", dir=scratch) as tmp:
        train_it = _batches(shard.train, read, str(Path(tmp) / "train"))
        valid_it = _batches(shard.valid, read, str(Path(tmp) / "valid"))

        def fit() -> Any:
            common = {"max_bin": params.get("max_bin"), "nthread": params.get("nthread")}
            dtrain = xgb.ExtMemQuantileDMatrix(train_it, **common)
            evals = []
            if early_stopping_rounds and shard.valid:
                evals = [(xgb.ExtMemQuantileDMatrix(valid_it, ref=dtrain, **common), "valid")]
            return xgb.train(
                params,
                dtrain,
                num_boost_round=rounds,
                evals=evals,
                early_stopping_rounds=early_stopping_rounds if evals else None,
                verbose_eval=False,
            )

        if comm_args is None:
            booster = fit()
        else:
            from xgboost.dask import CommunicatorContext

            with CommunicatorContext(**comm_args):
                booster = fit()
        return ShardResult(booster, train_it.rows, max(train_it.largest, valid_it.largest))


def train_on_cluster(
    client: Any,
    parts: list[Shard],
    read: Reader,
    params: dict[str, Any],
    rounds: int,
    early_stopping_rounds: int | None,
) -> list[ShardResult]:
    """One :func:`train_shard` task pinned to each of ``len(parts)`` workers, joined by a
    tracker in this process; returns each worker's result (rank order not implied)."""
    from distributed.comm import get_address_host
    from distributed.utils import get_ip
    from xgboost.tracker import RabitTracker

    workers = sorted(client.nthreads())[: len(parts)]
    if len(workers) < len(parts):
        raise RunError(f"distributed XGBoost needs {len(parts)} workers, found {len(workers)}")
    # the tracker listens on this machine's address towards the scheduler, which the workers
    # reach too (loopback for a local cluster)
    host = get_ip(get_address_host(client.scheduler.address))
    tracker = RabitTracker(n_workers=len(parts), host_ip=host, sortby="task")
    tracker.start()
    try:
        args = dict(tracker.worker_args())
        task = (read, params, rounds, early_stopping_rounds, args)
        futures = [
            client.submit(
                train_shard, shard, *task, workers=[worker], allow_other_workers=False, pure=False
            )
            for shard, worker in zip(parts, workers, strict=True)
        ]
        results = _gather_while_present(client, futures, workers)
        tracker.wait_for()  # every rank has shut its communicator down
        return results
    finally:
        _free(tracker)


def _free(tracker: Any) -> None:
    """Stop the tracker. After a failed fit it may complain that a rank never said goodbye;
    the failure already raised is the one worth reporting."""
    import sys

    from xgboost.core import XGBoostError

    try:
        tracker.free()
    except XGBoostError:
        if sys.exc_info()[0] is None:
            raise


def _gather_while_present(client: Any, futures: list[Any], workers: list[str]) -> list[Any]:
    """The futures' results; if one fails, or one of ``workers`` leaves the cluster first,
    cancel the rest and fail (the all-reduce would otherwise wait for it forever)."""
    from distributed import wait

    pending = list(futures)
    while pending:
        with contextlib.suppress(TimeoutError):  # no result yet: check the workers
            wait(pending, timeout=_POLL_S, return_when="FIRST_COMPLETED")
        done = [f for f in pending if f.done()]
        failed = [f for f in done if f.status == "error"]
        if failed:
            client.cancel(futures)
            failed[0].result()  # raises the worker's exception
        pending = [f for f in pending if f not in done]
        gone = set(workers) - set(client.nthreads())  # asks the scheduler now
        if pending and gone:
            client.cancel(futures)
            raise RunError(
                f"worker {sorted(gone)[0]} left the cluster during distributed XGBoost "
                "training, which cannot go on without it; run again: the run resumes from "
                "the cache and recomputes only this fit"
            )
    return [f.result() for f in futures]


def parquet_rows(files: Sequence[str]) -> int:
    """Rows in ``files``, from their parquet footers (no row is read)."""
    import pyarrow.parquet as pq

    return sum(int(pq.ParquetFile(f).metadata.num_rows) for f in files)


def needs_external_memory(rows: int, width: int, workers: int, limit: int | None) -> bool:
    """Whether ``rows`` of ``width`` features would crowd a worker limited to ``limit``
    bytes (None: unlimited) if trained in memory: ``xgboost.dask`` holds a worker's share of
    the rows as float32 frames, their concatenation and the quantised copy (about three
    times the share), and that should stay under half the limit, the rest being the
    libraries and Dask's own headroom."""
    if limit is None:
        return False
    share = 3 * (rows // max(1, workers) + 1) * (width + 1) * 4
    return share > limit // 2


def smallest_memory_limit(client: Any) -> int | None:
    """The smallest worker memory limit of the cluster in bytes (None when unlimited),
    asked of the workers themselves (a new client's cached view may not list them yet)."""
    limits = client.run(_memory_limit).values()
    bounded = [int(x) for x in limits if x]
    return min(bounded) if bounded else None


def _memory_limit(dask_worker: Any) -> int | None:
    return dask_worker.memory_manager.memory_limit
