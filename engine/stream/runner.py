"""``sous stream``: run the consumers of a recipe's stream, and report their status."""

from __future__ import annotations

import time
from dataclasses import dataclass

from engine.stream.checkpoint import CheckpointStore
from engine.stream.consumer import Consumer, ConsumerSummary
from engine.stream.context import StreamContext
from engine.stream.sources import ConsumerLag, SourceContext, open_source


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
) -> ConsumerSummary:
    """One consumer, to the end (idle, event budget, or interruption)."""
    c = Consumer(ctx, consumer, claim=claim)
    try:
        return c.run(until_idle_s=until_idle_s, max_events=max_events)
    finally:
        c.close()


@dataclass(frozen=True)
class ConsumerStatus:
    consumer: str
    seq: int
    events_in: int
    events_out: int
    dead_lettered: int
    late: int
    replays: int
    model_version: str | None
    checkpoint_age_s: float | None
    throughput_eps: float | None
    pending: int | None
    idle_ms: int | None


@dataclass(frozen=True)
class StreamStatus:
    name: str
    source: str
    lag: int | None
    pending: int
    consumers: tuple[ConsumerStatus, ...]


def status(ctx: StreamContext) -> StreamStatus:
    """Progress from the checkpoints, lag and pending entries from the broker."""
    cps = CheckpointStore(ctx.checkpoint_dir).all()
    broker = _broker_status(ctx)
    lags = {c.name: c for c in broker.consumers} if broker else {}
    now = time.time()
    rows = []
    names = [cp.consumer for cp in cps] + [n for n in lags if n not in {cp.consumer for cp in cps}]
    by_name = {cp.consumer: cp for cp in cps}
    for name in names:
        cp = by_name.get(name)
        lag: ConsumerLag | None = lags.get(name)
        span = (cp.written_at - cp.started_at) if cp else 0.0
        rows.append(
            ConsumerStatus(
                consumer=name,
                seq=cp.seq if cp else 0,
                events_in=cp.counters.events_in if cp else 0,
                events_out=cp.counters.events_out if cp else 0,
                dead_lettered=cp.counters.dead_lettered if cp else 0,
                late=cp.counters.late if cp else 0,
                replays=cp.counters.replays if cp else 0,
                model_version=cp.model_version if cp else None,
                checkpoint_age_s=round(now - cp.written_at, 3) if cp and cp.written_at else None,
                throughput_eps=round(cp.counters.events_in / span, 1) if cp and span > 0 else None,
                pending=lag.pending if lag else None,
                idle_ms=lag.idle_ms if lag else None,
            )
        )
    return StreamStatus(
        name=ctx.name,
        source=f"{ctx.stream.source.kind}:{ctx.stream.source.options.get('stream') or ctx.stream.source.options.get('path')}",
        lag=broker.lag if broker else None,
        pending=broker.pending if broker else 0,
        consumers=tuple(rows),
    )


def _broker_status(ctx: StreamContext):  # type: ignore[no-untyped-def]
    source = open_source(ctx.stream.source, SourceContext("status", ctx.state_dir))
    try:
        return source.status()
    finally:
        source.close()


def run_stream(
    ctx: StreamContext,
    *,
    workers: int = 1,
    until_idle_s: float | None = None,
    max_events: int | None = None,
    metrics_port: int | None = None,
) -> list[ConsumerSummary]:
    """Run ``workers`` consumers until idle / the event budget / an interruption."""
    if workers > 1 and ctx.windows is not None:
        from engine.errors import UserError

        raise UserError(
            "windowed features need a single consumer per stream: a consumer group hands a "
            "key's events to any consumer, and window state is kept per consumer",
            key_path="features.windows",
            hint="run with --workers 1, or split the events by key into several streams "
            "and run one `sous stream` per stream",
        )
    names = consumer_names(ctx, workers)
    server = None
    if metrics_port is not None:
        from engine.stream.metrics import serve_metrics

        server = serve_metrics(ctx, metrics_port)
    try:
        if workers == 1:
            return [run_one(ctx, names[0], until_idle_s=until_idle_s, max_events=max_events)]
        from engine.stream.workers import run_on_dask

        return run_on_dask(ctx, names, until_idle_s=until_idle_s, max_events=max_events)
    finally:
        if server is not None:
            server.shutdown()
