"""Stream sources: the interface, the built-in kinds and the plug-in registry.

A source hands out events in order and takes acknowledgements. The consumer acknowledges a
batch only after its checkpoint is written and its rows are published, so an event is never
lost; replays are dropped by event id. Plug-ins register a factory under the entry point
group ``sous.stream_sources`` (name = the recipe's ``stream.source.kind``); see
docs/streaming.md for the contract a Kafka or Kinesis source would implement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from engine.errors import UserError
from engine.specs import StreamEndpointSpec
from engine.stream.events import Event, SourceStatus

ENTRY_POINT_GROUP = "sous.stream_sources"


class StreamSource(Protocol):
    def read(self, count: int, block_ms: int) -> list[Event]:
        """Up to ``count`` events, waiting at most ``block_ms`` for the first one. After a
        restart, events delivered before but never acknowledged come first."""
        ...

    def ack(self, events: Sequence[Event]) -> None: ...

    def claim_idle(self, min_idle_ms: int, count: int) -> list[Event]:
        """Events other (dead) consumers were given but did not ack for ``min_idle_ms``."""
        ...

    # Optional, for sources whose entries can be claimed by another consumer (Redis):
    # ``fence(events) -> set[str]``: the broker ids still delivered to this consumer, kept
    # from being claimed while the batch commits. Without it nothing is fenced.

    def progress(self) -> Mapping[str, Any]:
        """What the checkpoint must hold for this source to resume (may be empty)."""
        ...

    def restore(self, progress: Mapping[str, Any]) -> None: ...

    def status(self) -> SourceStatus: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceContext:
    consumer: str
    state_dir: Path


SourceFactory = Callable[[StreamEndpointSpec, SourceContext], StreamSource]


def _redis(spec: StreamEndpointSpec, ctx: SourceContext) -> StreamSource:
    from engine.stream.redis_source import RedisSource

    return RedisSource(spec, ctx.consumer)


def _directory(spec: StreamEndpointSpec, ctx: SourceContext) -> StreamSource:
    from engine.stream.dir_source import DirectorySource

    return DirectorySource(spec, ctx.consumer)


BUILTIN: dict[str, SourceFactory] = {"redis": _redis, "directory": _directory}


def source_factories() -> dict[str, SourceFactory]:
    """The built-in kinds plus the plug-ins installed under ``sous.stream_sources``."""
    from importlib.metadata import entry_points

    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.load())
    return found


def open_source(spec: StreamEndpointSpec, ctx: SourceContext) -> StreamSource:
    factories = source_factories()
    if spec.kind not in factories:
        from engine.errors import choices_hint

        raise UserError(
            f"no stream source of kind {spec.kind!r}",
            key_path="stream.source.kind",
            hint=choices_hint(spec.kind, factories)
            or f"install a plug-in that registers it under {ENTRY_POINT_GROUP}",
        )
    return factories[spec.kind](spec, ctx)
