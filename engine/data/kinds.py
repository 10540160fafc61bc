"""The kinds of feature columns a model is served with, from their pandas dtypes.

Kept in the data layer (no serving import): the served API (``engine.serving.types``) and
the monitoring reference (``engine.drift.reference``) both type features this way."""

from __future__ import annotations

from typing import Any

DTYPES: tuple[str, ...] = ("float", "int", "str", "bool", "datetime")


def feature_kind(dtype: Any) -> str:
    """The served type of a feature column of pandas ``dtype``: one of :data:`DTYPES`.
    A datetime column is served as an ISO 8601 date-time string."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "str"
