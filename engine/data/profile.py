"""Per-column statistics of the training data: shown by ``sous runs show`` and kept as the
reference distribution for drift detection (PSI/KS need the histogram bin edges)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

HIST_BINS = 10
TOP_VALUES = 10
QUANTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class NumericStats:
    mean: float | None
    std: float | None
    min: float | None
    q25: float | None
    q50: float | None
    q75: float | None
    max: float | None
    bin_edges: tuple[float, ...]
    bin_counts: tuple[int, ...]


@dataclass(frozen=True)
class CategoricalStats:
    cardinality: int
    top: tuple[tuple[str, int], ...]  # (value, count), most frequent first


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    dtype: str
    count: int
    nulls: int
    is_target: bool = False
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None


@dataclass(frozen=True)
class DataProfile:
    rows: int
    target: str
    columns: Mapping[str, ColumnProfile] = field(default_factory=dict)  # a dict: picklable

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (NaN/inf become None)."""
        return {
            "rows": self.rows,
            "target": self.target,
            "columns": {name: _clean(asdict(col)) for name, col in self.columns.items()},
        }


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _numeric(s: pd.Series) -> NumericStats:
    import numpy as np

    values = s.dropna().astype("float64")
    if values.empty:
        return NumericStats(None, None, None, None, None, None, None, (), ())
    q = values.quantile(list(QUANTILES))
    counts, edges = np.histogram(values.to_numpy(), bins=HIST_BINS)
    return NumericStats(
        mean=_num(values.mean()),
        std=_num(values.std()),
        min=_num(values.min()),
        q25=_num(q.iloc[0]),
        q50=_num(q.iloc[1]),
        q75=_num(q.iloc[2]),
        max=_num(values.max()),
        bin_edges=tuple(float(e) for e in edges),
        bin_counts=tuple(int(c) for c in counts),
    )


def _categorical(s: pd.Series) -> CategoricalStats:
    counts = s.dropna().astype("str").value_counts()
    top = tuple((str(k), int(v)) for k, v in counts.head(TOP_VALUES).items())
    return CategoricalStats(cardinality=len(counts), top=top)


def profile_frame(frame: pd.DataFrame, *, target: str) -> DataProfile:
    """Stats per column: numeric columns get moments, quantiles and a histogram; everything
    else (strings, categories, booleans, datetimes) gets cardinality and top values."""
    import pandas as pd

    cols = {}
    for name in frame.columns:
        s = frame[name]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        cols[str(name)] = ColumnProfile(
            name=str(name),
            dtype=str(s.dtype),
            count=int(s.notna().sum()),
            nulls=int(s.isna().sum()),
            is_target=name == target,
            numeric=_numeric(s) if numeric else None,
            categorical=None if numeric else _categorical(s),
        )
    return DataProfile(rows=len(frame), target=target, columns=cols)
