"""The keyed artifact cache: every node output lives under its key, written atomically.

Layout of one entry: ``<root>/<key>/value.pkl`` (cloudpickle), ``meta.json`` (step, wall and CPU
seconds, peak memory) and any artifacts the value declares (``artifacts()`` -> parquet, text,
bytes). A value with ``for_cache()`` is stored as what that returns (parts it only needs in
memory left out). An entry is written into a temp directory beside it and renamed into place, so a crash
never leaves a partial entry that looks complete: ``meta.json`` is the commit marker.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

META = "meta.json"
VALUE = "value.pkl"


@dataclass(frozen=True)
class EntryMeta:
    """What is known about how an entry was computed: the resource accounting of its step."""

    key: str
    step: str
    wall_s: float
    cpu_s: float
    peak_mem_mb: float
    artifacts: tuple[str, ...] = ()
    rows: int | None = None  # rows of a table-like output, for the run record
    artifact_rows: Mapping[str, int] = field(default_factory=dict)  # rows of each table artifact

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EntryMeta:
        return cls(
            key=d["key"],
            step=d["step"],
            wall_s=float(d["wall_s"]),
            cpu_s=float(d["cpu_s"]),
            peak_mem_mb=float(d["peak_mem_mb"]),
            artifacts=tuple(d.get("artifacts", ())),
            rows=d.get("rows"),
            artifact_rows=dict(d.get("artifact_rows", {})),
        )


class ArtifactCache:
    """Keyed, atomic, process-safe store of node outputs on a (shared) filesystem."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.path(key) / META).is_file()

    def meta(self, key: str) -> EntryMeta:
        return EntryMeta.from_dict(json.loads((self.path(key) / META).read_text()))

    def load(self, key: str) -> Any:
        import cloudpickle

        with open(self.path(key) / VALUE, "rb") as f:
            return cloudpickle.load(f)

    def artifact_path(self, key: str, name: str) -> Path:
        return self.path(key) / name

    def save(self, key: str, value: Any, meta: EntryMeta) -> None:
        """Write the entry into a temp dir, then rename it into place (first writer wins)."""
        import cloudpickle

        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root))
        trim = getattr(value, "for_cache", None)  # a value may keep parts in memory only
        try:
            with open(tmp / VALUE, "wb") as f:
                cloudpickle.dump(trim() if callable(trim) else value, f)
                f.flush()
                os.fsync(f.fileno())
            names, table_rows = _write_artifacts(tmp, value)
            meta = EntryMeta(
                **{
                    **asdict(meta),
                    "artifacts": names,
                    "rows": _rows(value),
                    "artifact_rows": table_rows,
                }
            )
            (tmp / META).write_text(json.dumps(asdict(meta), indent=1))
            self._commit(tmp, self.path(key))
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _commit(self, tmp: Path, final: Path) -> None:
        if final.exists():
            if (final / META).is_file():
                return  # an identical entry won the race; ours is redundant
            # a stale partial left by a crash: move it aside, then replace it
            stale = final.with_name(f".stale-{final.name}-{uuid.uuid4().hex[:8]}")
            os.replace(final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / META).is_file():
                raise

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _write_artifacts(directory: Path, value: Any) -> tuple[tuple[str, ...], dict[str, int]]:
    """Write what ``value.artifacts()`` declares; DataFrames as parquet, str as text."""
    produce = getattr(value, "artifacts", None)
    if not callable(produce):
        return (), {}
    names: list[str] = []
    table_rows: dict[str, int] = {}
    for name, item in produce().items():
        if hasattr(item, "to_parquet"):
            filename = name if name.endswith(".parquet") else f"{name}.parquet"
            item.to_parquet(directory / filename, index=False)
            table_rows[filename] = len(item)
        elif isinstance(item, bytes):
            filename = name
            (directory / filename).write_bytes(item)
        else:
            filename = name
            (directory / filename).write_text(str(item))
        names.append(filename)
    return tuple(names), table_rows


def _rows(value: Any) -> int | None:
    """Row count of a frame, or of a result that carries one (``.frame``)."""
    table = getattr(value, "frame", value)
    shape = getattr(table, "shape", None)
    if isinstance(shape, tuple) and shape and hasattr(table, "columns"):
        return int(shape[0])
    return None
