"""``preprocess:`` of a recipe -> scikit-learn transformers.

The transformers become the first steps of the model's Pipeline, so they are fitted inside
each training fold (nothing leaks from validation rows) and the served model carries
exactly the preprocessing it was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import UserError
from engine.specs import PreprocessSpec

NUMERIC_KEYS = {
    "impute": ("median", "mean", "most_frequent", "constant", "none"),
    "scale": ("standard", "minmax", "robust", "none"),
}
CATEGORICAL_KEYS = {
    "impute": ("most_frequent", "constant", "none"),
    "encode": ("onehot", "ordinal"),
}
# Defaults when the recipe says nothing: impute (a no-op on complete data), scale numbers
# (linear models and MLPs need it; trees do not care), one-hot categories.
NUMERIC_DEFAULTS = {"impute": "median", "scale": "standard"}
CATEGORICAL_DEFAULTS = {"impute": "most_frequent", "encode": "onehot"}
EXTRA_KEYS = ("fill_value", "min_frequency", "max_categories")


def _options(
    given: Mapping[str, Any],
    allowed: Mapping[str, tuple[str, ...]],
    defaults: Mapping[str, str],
    where: str,
) -> dict[str, Any]:
    """Merge defaults and check every key and value, naming the key path on error."""
    out: dict[str, Any] = dict(defaults)
    for key, value in given.items():
        path = f"preprocess.{where}.{key}"
        if key in EXTRA_KEYS:
            out[key] = value
            continue
        if key not in allowed:
            raise UserError(
                f"{path}: unknown option {key!r} (expected one of "
                f"{sorted([*allowed, *EXTRA_KEYS])})",
                key_path=path,
            )
        value = "none" if value is None else value
        if value not in allowed[key]:
            raise UserError(
                f"{path}: unknown value {value!r} (expected one of {list(allowed[key])})",
                key_path=path,
            )
        out[key] = value
    return out


def _numeric_steps(opts: Mapping[str, Any]) -> list[tuple[str, Any]]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    steps: list[tuple[str, Any]] = []
    if opts["impute"] != "none":
        kw = {"fill_value": opts.get("fill_value", 0)} if opts["impute"] == "constant" else {}
        steps.append(("impute", SimpleImputer(strategy=opts["impute"], **kw)))
    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
    if opts["scale"] != "none":
        steps.append(("scale", scalers[opts["scale"]]()))
    return steps


def to_object(x: Any) -> Any:
    """Categories as object values with NaN for missing: sklearn's imputers and encoders
    choke on ``pd.NA`` (nullable ``string`` columns of pandas)."""
    import numpy as np
    import pandas as pd

    if isinstance(x, pd.DataFrame):
        return x.astype(object).where(x.notna(), np.nan)
    return x


def _categorical_steps(opts: Mapping[str, Any]) -> list[tuple[str, Any]]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder

    steps: list[tuple[str, Any]] = [
        ("as_object", FunctionTransformer(to_object, feature_names_out="one-to-one"))
    ]
    if opts["impute"] != "none":
        kw = (
            {"fill_value": opts.get("fill_value", "missing")}
            if opts["impute"] == "constant"
            else {}
        )
        steps.append(("impute", SimpleImputer(strategy=opts["impute"], **kw)))
    if opts["encode"] == "onehot":
        extra = {k: opts[k] for k in ("min_frequency", "max_categories") if k in opts}
        enc: Any = OneHotEncoder(handle_unknown="ignore", sparse_output=False, **extra)
    else:
        enc = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
        )
    steps.append(("encode", enc))
    return steps


def column_transformer(
    spec: PreprocessSpec, numeric: Sequence[str], categorical: Sequence[str]
) -> Any:
    """A ColumnTransformer over the feature columns; other columns are dropped."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    num = _options(spec.numeric, NUMERIC_KEYS, NUMERIC_DEFAULTS, "numeric")
    cat = _options(spec.categorical, CATEGORICAL_KEYS, CATEGORICAL_DEFAULTS, "categorical")
    parts: list[tuple[str, Any, list[str]]] = []
    for name, steps, cols in (
        ("num", _numeric_steps(num), list(numeric)),
        ("cat", _categorical_steps(cat), list(categorical)),
    ):
        if cols:
            parts.append((name, Pipeline(steps) if steps else "passthrough", cols))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=True)


def reducers(spec: PreprocessSpec, task: str, seed: int) -> list[tuple[str, Any]]:
    """PCA and SelectKBest steps, after the column transformer."""
    steps: list[tuple[str, Any]] = []
    if spec.pca is not None:
        from sklearn.decomposition import PCA

        ok = (isinstance(spec.pca, int) and spec.pca >= 1) or (
            isinstance(spec.pca, float) and 0 < spec.pca < 1
        )
        if not ok or isinstance(spec.pca, bool):
            raise UserError(
                f"preprocess.pca must be a number of components >= 1 or a variance fraction "
                f"in (0, 1), got {spec.pca!r}",
                key_path="preprocess.pca",
            )
        steps.append(("pca", PCA(n_components=spec.pca, random_state=seed)))
    if spec.select_k is not None:
        from sklearn.feature_selection import SelectKBest, f_classif, f_regression

        if (
            not isinstance(spec.select_k, int)
            or isinstance(spec.select_k, bool)
            or spec.select_k < 1
        ):
            raise UserError(
                f"preprocess.select_k must be an int >= 1, got {spec.select_k!r}",
                key_path="preprocess.select_k",
            )
        func = f_classif if task == "classification" else f_regression
        steps.append(("select", SelectKBest(func, k=spec.select_k)))
    return steps


def split_columns(frame: Any, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature names by dtype; booleans count as numeric."""
    import pandas as pd

    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in features if c not in set(numeric)]
    return numeric, categorical
