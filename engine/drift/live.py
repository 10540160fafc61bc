"""Rolling-window drift inside the server, for Prometheus gauges.

Each served row is reduced to one small bin index per feature, kept in a ring buffer of the
last ``window_rows`` rows (2 bytes per feature per row: bounded memory whatever the traffic);
PSI per feature and the prediction mix are computed from the ring's bin counts every
``window_rows // 10`` rows. The request path pays a ``searchsorted`` per feature per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.drift import stats
from engine.drift.reference import REFERENCE_FILE, Distribution, Reference, load


class _Ring:
    """The last ``size`` bin indices of one column (-1: missing, or not yet filled)."""

    def __init__(self, size: int):
        import numpy as np

        self.values = np.full(size, -1, dtype="int16")
        self.pos = 0
        self.filled = 0

    def push(self, idx: Any) -> None:
        n, size = len(idx), len(self.values)
        if n >= size:
            self.values[:] = idx[-size:]
            self.pos, self.filled = 0, size
            return
        end = self.pos + n
        if end <= size:
            self.values[self.pos : end] = idx
        else:
            cut = size - self.pos
            self.values[self.pos :] = idx[:cut]
            self.values[: n - cut] = idx[cut:]
        self.pos = end % size
        self.filled = min(size, self.filled + n)

    def counts(self, nbins: int) -> Any:
        import numpy as np

        v = self.values[self.values >= 0]
        return np.bincount(v, minlength=nbins)[:nbins]


def _bins(dist: Distribution, values: Sequence[Any]) -> Any:
    """Bin index per value on the reference's bins (-1 for missing)."""
    import numpy as np

    if dist.kind == "numeric":
        arr = np.array([np.nan if v is None else v for v in values], dtype="float64")
        idx = np.searchsorted(np.asarray(dist.edges), arr, side="left").astype("int16")
        idx[np.isnan(arr)] = -1
        return idx
    index = {c: i for i, c in enumerate(dist.categories)}
    other = len(dist.counts) - 1
    return np.array([-1 if v is None else index.get(str(v), other) for v in values], dtype="int16")


class LiveDrift:
    """PSI per feature and the prediction mix over the last ``window_rows`` served rows."""

    def __init__(self, reference: Reference, columns: Sequence[str], window_rows: int = 1000):
        self.reference = reference
        self.positions = {
            name: columns.index(name) for name in reference.features if name in columns
        }
        self.window_rows = window_rows
        self.rings = {name: _Ring(window_rows) for name in self.positions}
        self.pred = _Ring(window_rows) if reference.prediction is not None else None
        self.every = max(1, window_rows // 10)
        self._since_publish = 0
        self.groups = {
            name: stats.coarse_groups(list(d.counts))
            for name, d in reference.features.items()
            if d.kind == "numeric"
        }

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, columns: Sequence[str], window_rows: int | None = None
    ) -> LiveDrift | None:
        """For a version packaged with a reference (None for one packaged without)."""
        path = Path(model_dir) / REFERENCE_FILE
        if not path.is_file():
            return None
        reference = load(path)
        return cls(reference, columns, window_rows or reference.live_rows)

    def observe(self, rows: Sequence[Sequence[Any]], predictions: Sequence[Any]) -> bool:
        """Add served rows; True when it is time to publish the gauges again."""
        for name, i in self.positions.items():
            self.rings[name].push(_bins(self.reference.features[name], [r[i] for r in rows]))
        if self.pred is not None and self.reference.prediction is not None:
            self.pred.push(_bins(self.reference.prediction, list(predictions)))
        first = self._since_publish == 0 and self.rows == len(rows)
        self._since_publish += len(rows)
        if first or self._since_publish >= self.every:
            self._since_publish = 0
            return True
        return False

    @property
    def rows(self) -> int:
        ring = next(iter(self.rings.values()), self.pred)
        return ring.filled if ring is not None else 0

    def scores(self) -> dict[str, float]:
        """PSI of the window per feature (reference deciles / categories)."""
        out = {}
        for name, ring in self.rings.items():
            dist = self.reference.features[name]
            live = ring.counts(len(dist.counts))
            if not live.sum():
                continue
            ref: list[float] = [float(c) for c in dist.counts]
            now: list[float] = [float(c) for c in live]
            if name in self.groups:
                ref, now = (
                    stats.regroup(ref, self.groups[name]),
                    stats.regroup(now, self.groups[name]),
                )
            out[name] = stats.psi(ref, now)
        return out

    def mix(self) -> Mapping[str, float]:
        """Share of each predicted class in the window (classifiers only)."""
        dist = self.reference.prediction
        if self.pred is None or dist is None or dist.kind != "categorical":
            return {}
        counts = self.pred.counts(len(dist.counts))
        names = [*dist.categories, "other"]
        return dict(zip(names, stats.shares(list(counts)), strict=True))
