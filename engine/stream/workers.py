"""``--workers N``: N consumers of the group as long-running tasks on Dask.

Each consumer runs on one worker thread for the whole stream (the cluster needs N worker
threads; the recipe's ``cluster`` section says where: a local process cluster or
``cluster=remote``; workers must see the same ``$SOUS_HOME``). A consumer that dies leaves
its pending entries in the group; the others claim them once idle for ``claim_idle_ms``
(XAUTOCLAIM) and drop those its checkpoint already covers. Dask reschedules the dead
consumer's task, which then finds its pending entries gone and only publishes what its
checkpoint names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from engine.stream.checkpoint import CheckpointStore
from engine.stream.consumer import ConsumerSummary, recover
from engine.stream.context import StreamContext
from engine.stream.partition import Partition


def run_on_dask(
    ctx: StreamContext,
    names: list[str],
    run_one: Callable[..., ConsumerSummary],
    *,
    until_idle_s: float | None,
    max_events: int | None,
    partitions: Sequence[Partition] | None = None,
) -> list[ConsumerSummary]:
    """``run_one`` (``engine.stream.runner.run_one``, passed in: the runner calls this) runs
    one consumer; here each runs as a long-lived task on the Dask cluster."""
    from engine.execution.executors import DaskExecutor

    spec = ctx.cluster
    if spec.kind != "remote":
        spec = dataclasses.replace(spec, kind="local", workers=len(names), threads_per_worker=1)
    per_consumer = None if max_events is None else -(-max_events // len(names))
    if partitions is not None:  # every partition reads every entry: each reads the budget
        per_consumer = max_events
    with DaskExecutor(spec) as executor:
        futures = [
            executor.client.submit(
                run_one,
                ctx,
                name,
                until_idle_s=until_idle_s,
                max_events=per_consumer,
                # partitions: one consumer per group, nobody to claim from; its task is rerun
                claim=partitions is None,
                partition=None if partitions is None else partitions[i],
                key=f"sous-stream-{ctx.name}-{name}",
                pure=False,
            )
            for i, name in enumerate(names)
        ]
        summaries = executor.client.gather(futures)
    finish(ctx)
    return list(summaries)


def finish(ctx: StreamContext) -> None:
    """With no consumer running: publish what every checkpoint names, delete the rest."""
    from engine.stream.consumer import Consumer

    sinks = Consumer.sinks_for(ctx)
    for cp in CheckpointStore(ctx.checkpoint_dir).all():
        recover(cp, sinks)
