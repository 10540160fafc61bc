"""``preprocess:`` of a recipe -> scikit-learn transformers.

The transformers become the first steps of the model's Pipeline, so they are fitted inside
each training fold (nothing leaks from validation rows) and the served model carries
exactly the preprocessing it was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import UserError
from engine.specs import DATETIME_PARTS, PreprocessSpec

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
# ``preprocess.datetime.parts`` whose pandas ``.dt`` attribute has another name; ``week`` is
# the ISO week (``.dt.isocalendar().week``), dayofweek counts from Monday = 0
_PANDAS_PART = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}
DATETIME_DEFAULTS: Mapping[str, Any] = {
    "parts": ("year", "month", "day", "dayofweek", "hour"),
    "epoch": True,
}


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


@dataclass(frozen=True)
class DatetimeOptions:
    """``preprocess.datetime``, checked: the calendar parts to extract and whether to add
    seconds since 1970-01-01 UTC."""

    parts: tuple[str, ...]
    epoch: bool


def datetime_options(given: Mapping[str, Any]) -> DatetimeOptions:
    """``preprocess.datetime`` with defaults; a wrong key or part is a UserError."""
    where = "preprocess.datetime"
    unknown = sorted(set(given) - set(DATETIME_DEFAULTS))
    if unknown:
        raise UserError(
            f"{where}: unknown option {unknown[0]!r} (expected one of {sorted(DATETIME_DEFAULTS)})",
            key_path=f"{where}.{unknown[0]}",
        )
    raw_parts = given.get("parts", DATETIME_DEFAULTS["parts"])
    parts = (raw_parts,) if isinstance(raw_parts, str) else tuple(raw_parts or ())
    bad = [p for p in parts if p not in DATETIME_PARTS]
    if bad:
        raise UserError(
            f"{where}.parts: unknown part {bad[0]!r} (expected some of {list(DATETIME_PARTS)})",
            key_path=f"{where}.parts",
        )
    epoch = given.get("epoch", DATETIME_DEFAULTS["epoch"])
    if not isinstance(epoch, bool):
        raise UserError(
            f"{where}.epoch must be true or false, got {epoch!r}", key_path=f"{where}.epoch"
        )
    if not parts and not epoch:
        raise UserError(
            f"{where}: no parts and no epoch leaves a datetime column with no feature",
            key_path=where,
            hint="keep epoch: true, name some parts, or drop the column (data.drop)",
        )
    return DatetimeOptions(tuple(dict.fromkeys(parts)), epoch)


def _utc(column: Any) -> Any:
    """A column of datetimes (or ISO 8601 strings) as UTC timestamps: naive values are
    taken as UTC, aware ones converted, so training data and served requests agree."""
    import pandas as pd

    return pd.to_datetime(column, utc=True, format="ISO8601")


def expand_datetimes(x: Any, parts: Sequence[str] = (), epoch: bool = True) -> Any:
    """Each datetime column -> its calendar ``parts`` then (``epoch``) seconds since
    1970-01-01 UTC, as floats; a missing time (NaT) gives NaN in every output."""
    import numpy as np
    import pandas as pd

    frame = x if isinstance(x, pd.DataFrame) else pd.DataFrame(x)
    out: list[Any] = []
    for col in frame.columns:
        t = _utc(frame[col])
        for part in parts:
            attr = _PANDAS_PART.get(part, part)
            values = t.dt.isocalendar().week if attr == "week" else getattr(t.dt, attr)
            out.append(values.to_numpy(dtype="float64", na_value=np.nan))
        if epoch:
            seconds = (t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
            out.append(seconds.to_numpy(dtype="float64", na_value=np.nan))
    return np.column_stack(out) if out else np.empty((len(frame), 0))


def datetime_names_out(transformer: Any, input_features: Sequence[str]) -> Any:
    """Output names of :func:`expand_datetimes`: ``<column>_<part>``, ``<column>_epoch``."""
    import numpy as np

    kw = transformer.kw_args or {}
    suffixes = [*kw.get("parts", ()), *(["epoch"] if kw.get("epoch", True) else [])]
    return np.asarray([f"{c}_{s}" for c in input_features for s in suffixes], dtype=object)


def _datetime_steps(opts: DatetimeOptions, num: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Expand, then impute and scale the derived numbers like the numeric columns."""
    from sklearn.preprocessing import FunctionTransformer

    expand = FunctionTransformer(
        expand_datetimes,
        kw_args={"parts": list(opts.parts), "epoch": opts.epoch},
        feature_names_out=datetime_names_out,
    )
    return [("expand", expand), *_numeric_steps(num)]


@dataclass(frozen=True)
class DtypeColumns:
    """A picklable column selector: the names of ``names`` whose column is (``datetime``
    True) or is not a datetime column, resolved on the frame the transformer is fitted on."""

    names: tuple[str, ...]
    datetime: bool

    def __call__(self, frame: Any) -> list[str]:
        import pandas as pd

        return [
            c for c in self.names if pd.api.types.is_datetime64_any_dtype(frame[c]) == self.datetime
        ]


def column_transformer(
    spec: PreprocessSpec, numeric: Sequence[str], categorical: Sequence[str]
) -> Any:
    """A ColumnTransformer over the feature columns; other columns are dropped.

    Datetime columns come among ``categorical`` (they are not numbers); they are picked out
    by dtype when fitted and expanded by ``preprocess.datetime``, never one-hot encoded.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    num = _options(spec.numeric, NUMERIC_KEYS, NUMERIC_DEFAULTS, "numeric")
    cat = _options(spec.categorical, CATEGORICAL_KEYS, CATEGORICAL_DEFAULTS, "categorical")
    dt = datetime_options(spec.datetime)
    others = tuple(categorical)
    parts: list[tuple[str, Any, Any]] = []
    for name, steps, cols in (
        ("num", _numeric_steps(num), list(numeric)),
        ("cat", _categorical_steps(cat), DtypeColumns(others, datetime=False)),
        ("dt", _datetime_steps(dt, num), DtypeColumns(others, datetime=True)),
    ):
        if cols.names if isinstance(cols, DtypeColumns) else cols:
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
    """(numeric, categorical) feature names by dtype; booleans count as numeric. Datetime
    columns are among the categorical names: :func:`column_transformer` expands them."""
    import pandas as pd

    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in features if c not in set(numeric)]
    return numeric, categorical
