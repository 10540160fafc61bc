"""What a consumer needs to run anywhere (this process or a Dask worker): plain, picklable."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.specs import ClusterSpec, RecipeSpec, SchemaSpec, StreamSpec, WindowsSpec, thaw


@dataclass(frozen=True)
class StreamContext:
    name: str
    stream: StreamSpec
    schema: SchemaSpec
    target: str
    windows: WindowsSpec | None
    home: str  # $SOUS_HOME of the driver: workers read the registry and write state there
    cluster: ClusterSpec = field(default_factory=ClusterSpec)  # where --workers N run

    @property
    def root(self) -> Path:
        """``$SOUS_HOME/streams/NAME``: default sinks and the state of each source."""
        return Path(self.home) / "streams" / self.name

    @property
    def state_dir(self) -> Path:
        """Checkpoints of this source (another stream or group starts from scratch)."""
        return self.root / "state" / source_token(self.stream)

    @property
    def checkpoint_dir(self) -> Path:
        return self.state_dir / "consumers"

    def default_dir(self, role: str) -> Path:
        return self.root / ("scored" if role == "sink" else "dead")


def source_token(stream: StreamSpec) -> str:
    identity = {"kind": stream.source.kind, **thaw(stream.source.options)}
    identity.pop("consumer", None)
    blob = json.dumps(identity, sort_keys=True, default=str)
    return f"{stream.source.kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def context_of(spec: RecipeSpec) -> StreamContext:
    from engine.errors import UserError
    from engine.home import sous_home

    if spec.stream is None:
        raise UserError(
            f"recipe {spec.name!r} has no stream section",
            key_path="stream",
            hint="add stream: {source: {kind: redis, url, stream, group}, sink: {kind: parquet}}",
        )
    windows = spec.features.windows if spec.features else None
    return StreamContext(
        spec.name, spec.stream, spec.schema, spec.target, windows, str(sous_home())
    )
