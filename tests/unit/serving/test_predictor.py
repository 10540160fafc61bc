"""The predictor turns rows into the estimator's frame and predictions into JSON values."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from engine.serving.runtime.predictor import Predictor, to_json_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(np.int64(3), 3, id="np-int"),
        pytest.param(np.float32(0.5), 0.5, id="np-float"),
        pytest.param(np.str_("a"), "a", id="np-str"),
        pytest.param(np.bool_(True), True, id="np-bool"),
        pytest.param(float("nan"), None, id="nan"),
        pytest.param("x", "x", id="plain"),
    ],
)
def test_to_json_value(value: object, expected: object) -> None:
    got = to_json_value(value)
    assert got == expected and type(got) is type(expected)


def test_classifier_predictions_match_the_estimator() -> None:
    x, y = load_iris(return_X_y=True, as_frame=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = LogisticRegression(max_iter=500).fit(x, names)
    feats = [{"name": c, "dtype": "float"} for c in x.columns]
    p = Predictor(est, task="classification", features=feats, version="v1")
    rows = x.head(5).values.tolist()
    out = p(rows)
    assert [o["prediction"] for o in out] == est.predict(x.head(5)).tolist()
    assert set(out[0]["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert sum(out[0]["probabilities"].values()) == pytest.approx(1.0)
    json.dumps(out)  # JSON-ready


def test_regressor_and_dtypes() -> None:
    import pandas as pd

    x = pd.DataFrame({"a": [1.0, 2.0, 3.0], "n": [1, 2, 3]})
    est = LinearRegression().fit(x, [2.0, 4.0, 6.0])
    feats = [{"name": "a", "dtype": "float"}, {"name": "n", "dtype": "int"}]
    p = Predictor(est, task="regression", features=feats, version="v1")
    frame = p.frame([[1, 1], [2, None]])
    assert str(frame["a"].dtype) == "float64"
    assert str(frame["n"].dtype) == "float64"  # a null int column becomes float
    assert str(p.frame([[1, 1]])["n"].dtype) == "int64"
    out = p([[4, 4]])
    assert out[0]["probabilities"] is None
    assert out[0]["prediction"] == pytest.approx(8.0)


def test_mixed_dtypes_through_a_column_transformer() -> None:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    df = pd.DataFrame(
        {
            "plan": ["basic", "pro", "pro", "basic"] * 5,
            "age": [20, 30, 40, 50] * 5,
            "vip": [True, False, True, False] * 5,
        }
    )
    y = ["no", "yes", "yes", "no"] * 5
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
    )
    est = make_pipeline(pre, DecisionTreeClassifier(random_state=0)).fit(df, y)
    feats = [
        {"name": "plan", "dtype": "str"},
        {"name": "age", "dtype": "int"},
        {"name": "vip", "dtype": "bool"},
    ]
    p = Predictor(est, task="classification", features=feats, version="v1")
    rows = df.head(4).values.tolist()
    assert [o["prediction"] for o in p(rows)] == est.predict(df.head(4)).tolist()


@pytest.mark.parametrize(
    ("make", "proba_only"),
    [
        pytest.param(
            lambda: __import__("sklearn.ensemble").ensemble.RandomForestClassifier(
                n_estimators=10, random_state=0
            ),
            True,
            id="forest",
        ),
        pytest.param(
            lambda: DecisionTreeClassifier(random_state=0),
            True,
            id="tree",
        ),
        pytest.param(lambda: LogisticRegression(max_iter=500), False, id="logreg-both-calls"),
    ],
)
def test_one_call_for_argmax_estimators_same_labels(make: Any, proba_only: bool) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True, as_frame=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = make_pipeline(StandardScaler(), make()).fit(x, names)
    feats = [{"name": c, "dtype": "float"} for c in x.columns]
    p = Predictor(est, task="classification", features=feats, version="v1")
    assert p.proba_only is proba_only
    calls = {"predict": 0}
    original = est.predict

    def counting(frame: Any) -> Any:
        calls["predict"] += 1
        return original(frame)

    est.predict = counting  # type: ignore[method-assign]
    out = p(x.values.tolist())
    assert [o["prediction"] for o in out] == original(x).tolist()
    assert calls["predict"] == (0 if proba_only else 1)


def test_all_float_rows_build_one_block_with_missing_values_as_nan() -> None:
    import numpy as np

    p = Predictor(None, task="regression", version="v",
                  features=[{"name": "a", "dtype": "float"}, {"name": "b", "dtype": "float"}])  # fmt: skip
    frame = p.frame([[1.0, None], [2, 3.5]])
    assert list(frame.columns) == ["a", "b"] and frame._mgr.nblocks == 1
    assert [str(t) for t in frame.dtypes] == ["float64", "float64"]
    assert np.isnan(frame["b"][0]) and frame["b"][1] == 3.5 and frame["a"][1] == 2.0


def test_a_served_forest_skips_the_per_tree_dispatch_with_identical_probabilities() -> None:
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    from engine.models.forest import FastForestProba

    x, y = load_iris(return_X_y=True, as_frame=True)
    est = RandomForestClassifier(n_estimators=30, random_state=0).fit(x, y)
    feats = [{"name": c, "dtype": "float"} for c in x.columns]
    p = Predictor(est, task="classification", features=feats, version="v")
    assert isinstance(p.fast, FastForestProba)
    rows = x.head(25).to_numpy().tolist()
    got = np.array([[o["probabilities"][str(c)] for c in est.classes_] for o in p(rows)])
    assert np.array_equal(got, est.predict_proba(x.head(25)))
    assert [o["prediction"] for o in p(rows)] == est.predict(x.head(25)).tolist()


@pytest.mark.parametrize("kind", ["random", "extra"])
def test_a_bare_forest_takes_rows_straight_to_its_trees_bit_identical(kind: str) -> None:
    from sklearn.datasets import load_wine
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    x, y = load_wine(return_X_y=True, as_frame=True)
    make = RandomForestClassifier if kind == "random" else ExtraTreesClassifier
    est = make(n_estimators=40, random_state=0).fit(x, y)
    feats = [{"name": c, "dtype": "float"} for c in x.columns]
    p = Predictor(est, task="classification", features=feats, version="v")
    assert p.forest is est
    calls = {"general": 0}

    def general(frame: Any) -> Any:
        calls["general"] += 1
        raise AssertionError("the general path ran")

    p.fast = type("Spy", (), {"predict_proba": staticmethod(general)})()
    rows = x.to_numpy().tolist()
    out = p(rows)
    got = np.array([[o["probabilities"][str(c)] for c in est.classes_] for o in out])
    assert calls["general"] == 0
    assert np.array_equal(got, est.predict_proba(x))  # bit-identical, every row
    assert [o["prediction"] for o in out] == est.predict(x).tolist()
    one = p([rows[7]])  # the one-record request
    assert one[0]["prediction"] == est.predict(x.iloc[[7]])[0]


def test_a_missing_value_or_another_layout_takes_the_general_path() -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True, as_frame=True)
    est = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    feats = [{"name": c, "dtype": "float", "nullable": True} for c in x.columns]
    p = Predictor(est, task="classification", features=feats, version="v")
    row = x.iloc[0].tolist()
    row[1] = None  # NaN: scikit-learn decides whether the trees take it
    frame = x.iloc[[0]].copy()
    frame.iloc[0, 1] = np.nan
    got = p([row])[0]["probabilities"]
    assert [got[str(c)] for c in est.classes_] == est.predict_proba(frame)[0].tolist()

    swapped = [feats[1], feats[0], *feats[2:]]  # columns not in the fitted order
    assert Predictor(est, task="classification", features=swapped, version="v").forest is None
    piped = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5)).fit(x, y)
    assert Predictor(piped, task="classification", features=feats, version="v").forest is None
