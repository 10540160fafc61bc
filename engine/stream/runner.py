"""``sous stream``: run the consumers of a recipe's stream, and report their status."""

from __future__ import annotations

from engine.stream.consumer import Consumer, ConsumerSummary
from engine.stream.context import StreamContext
from engine.stream.partition import Partition, partitions_for
from engine.stream.status import ConsumerStatus, StreamStatus, status

__all__ = ["ConsumerStatus", "StreamStatus", "consumer_names", "run_one", "run_stream", "status"]


def consumer_names(ctx: StreamContext, workers: int) -> list[str]:
    base = str(ctx.stream.source.options.get("consumer") or "c")
    return [f"{base}{i}" for i in range(workers)]


def run_one(
    ctx: StreamContext,
    consumer: str,
    *,
    until_idle_s: float | None,
    max_events: int | None,
    claim: bool = False,
    partition: Partition | None = None,
) -> ConsumerSummary:
    """One consumer, to the end (idle, event budget, or interruption)."""
    c = Consumer(ctx, consumer, claim=claim, partition=partition)
    try:
        return c.run(until_idle_s=until_idle_s, max_events=max_events)
    finally:
        c.close()


def run_stream(
    ctx: StreamContext,
    *,
    workers: int = 1,
    until_idle_s: float | None = None,
    max_events: int | None = None,
    metrics_port: int | None = None,
) -> list[ConsumerSummary]:
    """Run ``workers`` consumers until idle / the event budget / an interruption."""
    names = consumer_names(ctx, workers)
    parts = partitions_for(ctx, workers)  # windowed: consumer i owns the keys of partition i
    server = None
    if metrics_port is not None:
        from engine.stream.metrics import serve_metrics

        server = serve_metrics(ctx, metrics_port)
    try:
        if workers == 1:
            return [run_one(ctx, names[0], until_idle_s=until_idle_s, max_events=max_events)]
        from engine.stream.workers import run_on_dask

        return run_on_dask(
            ctx, names, run_one, until_idle_s=until_idle_s, max_events=max_events, partitions=parts
        )
    finally:
        if server is not None:
            server.shutdown()
