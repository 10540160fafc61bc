"""One consumer of a stream: the micro-batch loop and its commit protocol.

Per batch: read -> drop replays -> check (dead letters) -> window features -> score ->
stage -> checkpoint -> publish -> ack. See :mod:`engine.stream` for why a crash anywhere
leaves every event in the sink exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.stream.checkpoint import Checkpoint, CheckpointStore, Staged
from engine.stream.clock import BatchFigures, StageClock
from engine.stream.context import StreamContext
from engine.stream.events import Event
from engine.stream.quality import BatchChecker, Rejected
from engine.stream.sinks import Sink, open_sink
from engine.stream.sources import SourceContext, StreamSource, open_source

if TYPE_CHECKING:
    import pandas as pd

    from engine.features.state import WindowState
    from engine.stream.partition import Partition
    from engine.stream.scorer import Scorer

FAILPOINT_ENV = "SOUS_STREAM_FAILPOINT"  # "PHASE:SEQ": SIGKILL self there (crash tests)


@dataclass(frozen=True)
class ConsumerSummary:
    consumer: str
    batches: int
    events_in: int
    events_out: int
    dead_lettered: int
    replays: int
    model_versions: tuple[str, ...]
    fenced: int = 0  # claimed by another consumer before this one committed them
    timing: BatchFigures | None = None  # per-stage cost of the recent batches


class Consumer:
    def __init__(
        self,
        ctx: StreamContext,
        consumer: str,
        *,
        source: StreamSource | None = None,
        scorer: Scorer | None = None,
        claim: bool = False,
        partition: Partition | None = None,
    ):
        from engine.stream.scorer import open_scorer

        self.ctx = ctx
        self.name = consumer
        self.claim = claim
        self.partition = partition if partition is not None and partition.count > 1 else None
        self.store = CheckpointStore(ctx.checkpoint_dir)
        spec = ctx.stream.source
        if self.partition is not None:
            spec = self.partition.source_spec(spec)
        self.source = source or open_source(spec, SourceContext(consumer, ctx.state_dir))
        self.scorer = scorer or open_scorer(ctx.stream.model)
        self.sinks = self.sinks_for(ctx)
        self.checker = BatchChecker(ctx.schema, ctx.target)
        self.cp = self.store.load(consumer)
        self.state = self._window_state(self.cp.window_state)
        # the checkpoint keeps the ids of the last few batches: a replay after a crash is at
        # most the last batch (a batch is acked before the next is read); in memory a longer
        # window also drops events a producer sent twice
        self.keep_ids = 4 * ctx.stream.max_batch
        window = max(ctx.stream.dedupe_ids, self.keep_ids)
        self.recent: deque[str] = deque(self.cp.recent_ids, maxlen=window)
        self.seen = set(self.recent)
        self.versions: list[str] = []
        self.reqlog: Any = None
        self.batches = 0
        self.clock = StageClock()
        describe_source(ctx)
        self.scorer.prepare()
        recover(self.cp, self.sinks)
        self.source.restore(self.cp.source)

    @staticmethod
    def sinks_for(ctx: StreamContext) -> dict[str, Sink]:
        def sink(role: str, spec: Any) -> Sink:
            return open_sink(role, spec, ctx.default_dir(role), ctx.state_dir)

        sinks = {"sink": sink("sink", ctx.stream.sink)}
        if ctx.stream.dead_letter is not None:
            sinks["dead_letter"] = sink("dead_letter", ctx.stream.dead_letter)
        return sinks

    def _window_state(self, data: Mapping[str, Any] | None) -> WindowState | None:
        if self.ctx.windows is None:
            return None
        from engine.features.state import WindowState

        return WindowState.from_json(self.ctx.windows, data)

    # ------------------------------------------------------------------ the loop

    def run(
        self, *, until_idle_s: float | None = None, max_events: int | None = None
    ) -> ConsumerSummary:
        limits = self.ctx.stream
        last_event = time.monotonic()
        last_claim = time.monotonic()
        done = 0
        while max_events is None or done < max_events:
            count = (
                limits.max_batch if max_events is None else min(limits.max_batch, max_events - done)
            )
            self.clock.start()
            events = self.source.read(count, limits.max_wait_ms)
            if (
                not events
                and self.claim
                and time.monotonic() - last_claim >= limits.claim_idle_ms / 2000
            ):
                last_claim = time.monotonic()
                events = self._claimed(count)
            if not events:
                if until_idle_s is not None and time.monotonic() - last_event >= until_idle_s:
                    break
                continue
            last_event = time.monotonic()
            self.clock.mark("read")
            done += self.process(events)
        return self.summary()

    def _claimed(self, count: int) -> list[Event]:
        """Entries a dead consumer left pending; those its checkpoint covers are acked."""
        events = self.source.claim_idle(self.ctx.stream.claim_idle_ms, count)
        if not events:
            return []
        claimed = {e.event_id for e in events}
        committed: set[str] = set()
        for cp in self.store.all():
            if cp.consumer == self.name:
                continue
            covered = claimed.intersection(cp.recent_ids)
            if covered:  # its batch is committed: make sure its files are published
                for staged in cp.staged:
                    if staged.sink in self.sinks:
                        self.sinks[staged.sink].publish(staged)
                committed |= covered
        self.source.ack([e for e in events if e.event_id in committed])
        return [e for e in events if e.event_id not in committed]

    def process(self, events: Sequence[Event]) -> int:
        """One micro-batch through the commit protocol; how many events it consumed (with a
        partition: entries read, its own and the others', since each partition reads them all)."""
        t0 = time.perf_counter()
        clock = self.clock
        skipped = 0  # other partitions' entries: read (they count as consumed), not scored
        if self.partition is not None:
            owns = self.partition.owns
            others = [e for e in events if not owns(e)]
            if others:
                self.source.ack(others)
                skipped = len(others)
                events = [e for e in events if owns(e)]
                if not events:
                    return skipped
        fresh, replays = self._dedupe(events)
        good, rejected = self.checker.check(fresh)
        clock.mark("check")
        rows, features_dead = self._features(good)
        rejected += features_dead
        clock.mark("features")
        scored = self._score(rows)
        dead = self._dead_frame(rejected)
        clock.mark("score")
        if self.claim:  # several consumers: commit only what no other consumer claimed
            owned = self._owned(events)
            if owned is not None and len(owned) < len(events):
                self.cp.counters.fenced += len(events) - len(owned)
                events = [e for e in events if e.broker_id in owned]
                fresh = [e for e in fresh if e.broker_id in owned]
                replays = len(events) - len(fresh)
                rejected = [r for r in rejected if r.event.broker_id in owned]
                rows = [r for r in rows if r["_event"].broker_id in owned]
                dead = dead[dead["broker_id"].isin(owned)].reset_index(drop=True)
                if scored is not None:
                    scored = scored[scored["broker_id"].isin(owned)].reset_index(drop=True)
                    scored = scored if len(scored) else None
                if not events:
                    return 0
            clock.mark("fence")
        seq = self.cp.seq + 1
        failpoint("before_stage", seq)
        staged: list[Staged] = []
        if scored is not None:
            staged += self.sinks["sink"].stage(seq, self.name, scored, "event_time")
        if "dead_letter" in self.sinks and len(dead):
            staged += self.sinks["dead_letter"].stage(seq, self.name, dead, "dead_at")
        clock.mark("stage")
        failpoint("after_stage", seq)
        self._commit(seq, staged, fresh, replays, scored, rejected)
        clock.mark("checkpoint")
        failpoint("after_checkpoint", seq)
        for s in staged:
            self.sinks[s.sink].publish(s)
        clock.mark("publish")
        failpoint("after_publish", seq)
        self.source.ack(events)
        clock.mark("ack")
        self._log_requests(rows, scored, (time.perf_counter() - t0) * 1000.0)
        clock.mark("log")
        clock.end(len(events))
        self.batches += 1
        return len(fresh) + skipped

    def _owned(self, events: Sequence[Event]) -> set[str] | None:
        """Fencing (see docs/streaming.md): the broker ids still delivered to this consumer,
        their claim renewed; None for a source that cannot tell (nothing is dropped)."""
        fence = getattr(self.source, "fence", None)
        return None if fence is None else set(fence(events))

    def _dedupe(self, events: Sequence[Event]) -> tuple[list[Event], int]:
        fresh, ids = [], set()
        for e in events:
            if e.event_id in self.seen or e.event_id in ids:
                continue
            ids.add(e.event_id)
            fresh.append(e)
        return fresh, len(events) - len(fresh)

    def _features(self, events: Sequence[Event]) -> tuple[list[dict[str, Any]], list[Rejected]]:
        """Rows to score (the event's fields plus its window features), in arrival order;
        events without a readable time or later than the allowed lateness are rejected."""
        from engine.stream.timing import event_times

        spec = self.ctx.windows
        times = event_times(events, spec.time if spec else None)
        rows: list[dict[str, Any]] = []
        rejected: list[Rejected] = []
        for e, t in zip(events, times, strict=True):
            row = dict(e.fields)
            row["_event"], row["_t"] = e, t
            if spec is not None and self.state is not None:
                if t is None:
                    rejected.append(Rejected(e, f"{spec.time}:unreadable_time"))
                    continue
                if self.state.is_late(t):
                    rejected.append(Rejected(e, "late"))
                    self.cp.counters.late += 1
                    continue
                key = e.fields.get(spec.key)
                if key is None:
                    rejected.append(Rejected(e, f"{spec.key}:missing_key"))
                    continue
                row.update(self.state.features(key, t))
                self.state.add(key, t, e.fields)
            rows.append(row)
        if self.state is not None:
            self.state.evict()
        return rows, rejected

    def _score(self, rows: list[dict[str, Any]]) -> pd.DataFrame | None:
        import pandas as pd

        if not rows:
            return None
        result = self.scorer.score(rows)
        if result.version and result.version not in self.versions:
            self.versions.append(result.version)
        now = pd.Timestamp.now(tz="UTC")
        key = self.ctx.windows.key if self.ctx.windows else None
        out: dict[str, Any] = {
            "event_id": [r["_event"].event_id for r in rows],
            "broker_id": [r["_event"].broker_id for r in rows],
        }
        if key:
            out["key"] = [None if r.get(key) is None else str(r.get(key)) for r in rows]
        times = pd.Series(pd.to_datetime([r["_t"] for r in rows], utc=True, unit="ns"))
        times = times.dt.as_unit("ns")  # all missing: pandas would pick seconds, not ns
        out["event_time"] = times.fillna(now).to_numpy()  # no event time: when it was scored
        for field in self.ctx.stream.sink.options.get("include", ()):  # event fields to keep
            out[str(field)] = [r.get(field) for r in rows]
        out["prediction"] = result.predictions
        classes = sorted({c for p in result.probabilities if p for c in p})
        for c in classes:
            out[f"proba_{c}"] = [
                float(p[c]) if p and c in p else None for p in result.probabilities
            ]
        out["model_version"] = result.version
        out["scored_at"] = now
        return pd.DataFrame(out)

    def _log_requests(
        self, rows: Sequence[Mapping[str, Any]], scored: pd.DataFrame | None, batch_ms: float
    ) -> None:
        """Scored events join the model's request log (``$SOUS_HOME/serving/NAME/requests``),
        so drift monitoring (``sous monitor``) covers streamed traffic too."""
        columns = getattr(self.scorer, "feature_columns", None)
        if scored is None or columns is None:
            return
        if self.reqlog is None:
            from engine.stream.logflush import BackgroundLog

            name = str(getattr(self.scorer, "name", self.ctx.name))
            self.reqlog = BackgroundLog(Path(self.ctx.home) / "serving" / name / "requests")
        cols = columns()

        def write(log: Any) -> None:  # on the log's thread: a batch only queues it
            records = [{c: r.get(c) for c in cols} for r in rows]
            probas = {c[6:]: scored[c].tolist() for c in scored.columns if c.startswith("proba_")}
            ids = scored["event_id"].tolist()
            preds = [
                {
                    "prediction": p,
                    "probabilities": {k: v[i] for k, v in probas.items()} or None,
                    "request_id": ids[i],
                }
                for i, p in enumerate(scored["prediction"].tolist())
            ]
            version = str(scored["model_version"].iat[0])
            log.write(
                records, preds, one_request=False,  # each event is a request of its own
                endpoint="stream", role="served", variant="stream", version=version,
                latency_ms=batch_ms,
            )  # fmt: skip

        self.reqlog.submit(write)

    def _dead_frame(self, rejected: Sequence[Rejected]) -> pd.DataFrame:
        import json

        import pandas as pd

        return pd.DataFrame(
            {
                "event_id": [r.event.event_id for r in rejected],
                "broker_id": [r.event.broker_id for r in rejected],
                "reason": [r.reason for r in rejected],
                "payload": [json.dumps(dict(r.event.fields), default=str) for r in rejected],
                "dead_at": pd.Series(
                    [pd.Timestamp.now(tz="UTC")] * len(rejected), dtype="datetime64[ns, UTC]"
                ),
            }
        )

    def _commit(
        self,
        seq: int,
        staged: list[Staged],
        fresh: Sequence[Event],
        replays: int,
        scored: pd.DataFrame | None,
        rejected: Sequence[Rejected],
    ) -> None:
        for e in fresh:
            if len(self.recent) == self.recent.maxlen:
                self.seen.discard(self.recent[0])
            self.recent.append(e.event_id)
            self.seen.add(e.event_id)
        cp = self.cp
        cp.seq = seq
        cp.staged = staged
        cp.window_state = self.state.to_json() if self.state is not None else None
        cp.recent_ids = list(self.recent)[-self.keep_ids :]
        cp.counters.events_in += len(fresh)
        cp.counters.events_out += 0 if scored is None else len(scored)
        cp.counters.dead_lettered += len(rejected)
        cp.counters.replays += replays
        cp.source = dict(self.source.progress())
        if self.versions:
            cp.model_version = self.versions[-1]
        self.store.save(cp)

    def summary(self) -> ConsumerSummary:
        c = self.cp.counters
        return ConsumerSummary(
            consumer=self.name,
            batches=self.batches,
            events_in=c.events_in,
            events_out=c.events_out,
            dead_lettered=c.dead_lettered,
            replays=c.replays,
            model_versions=tuple(self.versions),
            fenced=c.fenced,
            timing=self.clock.figures(),
        )

    def close(self) -> None:
        if self.reqlog is not None:
            self.reqlog.close()
        stop = getattr(self.scorer, "close", None)  # the registry scorer's polling thread
        if stop is not None:
            stop()
        self.source.close()


def recover(cp: Checkpoint, sinks: Mapping[str, Sink]) -> None:
    """Publish what the checkpoint names (again: idempotent); delete other staged files
    (a batch that crashed before its checkpoint, which will be read and scored again)."""
    named = {s.staged for s in cp.staged}
    for s in cp.staged:
        if s.sink in sinks:
            sinks[s.sink].publish(s)
    for sink in sinks.values():
        directory = sink.staging_dir(cp.consumer)
        if directory.is_dir():
            for path in directory.iterdir():
                if str(path) not in named:
                    path.unlink(missing_ok=True)


def describe_source(ctx: StreamContext) -> None:
    """``source.json`` next to the checkpoints: which source they belong to (no URL: it may
    hold a password)."""
    import json

    opts = ctx.stream.source.options
    info = {"kind": ctx.stream.source.kind}
    info.update({k: str(opts[k]) for k in ("stream", "group", "path") if opts.get(k) is not None})
    path = ctx.state_dir / "source.json"
    if not path.exists():
        ctx.state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info, indent=2))


def failpoint(phase: str, seq: int) -> None:
    """Crash tests: ``SOUS_STREAM_FAILPOINT=after_stage:3`` kills this process (SIGKILL, as
    ``kill -9`` would) when batch 3 reaches that phase."""
    want = os.environ.get(FAILPOINT_ENV)
    if want and want == f"{phase}:{seq}":
        os.kill(os.getpid(), signal.SIGKILL)
