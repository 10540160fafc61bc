"""A stream's status: progress from its consumers' checkpoints, lag and pending entries from
the broker (``sous stream status`` and the Prometheus metrics read it)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from engine.specs import StreamEndpointSpec
from engine.stream.checkpoint import CheckpointStore
from engine.stream.context import StreamContext
from engine.stream.events import ConsumerLag, SourceStatus
from engine.stream.sources import SourceContext, open_source


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
    from engine.stream.partition import recorded_partitions

    parts = recorded_partitions(ctx)
    if not parts or ctx.stream.source.kind != "redis":
        return _one_status(ctx, ctx.stream.source)
    # a windowed stream read by N partitions: one group each, every group sees every event
    each = [_one_status(ctx, p.source_spec(ctx.stream.source)) for p in parts]
    lags = [s.lag for s in each if s.lag is not None]
    return SourceStatus(
        lag=max(lags) if lags else None,
        pending=sum(s.pending for s in each),
        consumers=tuple(c for s in each for c in s.consumers),
    )


def _one_status(ctx: StreamContext, spec: StreamEndpointSpec) -> SourceStatus:
    source = open_source(spec, SourceContext("status", ctx.state_dir))
    try:
        return source.status()
    finally:
        source.close()
