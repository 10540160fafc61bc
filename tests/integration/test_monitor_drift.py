"""Drift of a real served model: its request log, replayed from the training data, then with
one feature shifted by two standard deviations, read back by ``sous monitor``."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from serving_support import iris_data, sous_home

pytestmark = pytest.mark.slow

SALT = "pepper"
PII = {"email": "hash"}
NUMERIC = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
FEATURES = [*NUMERIC, "region", "email"]
SHIFTED = "petal length (cm)"


def raw_frame() -> pd.DataFrame:
    x, y = iris_data()
    raw = x.copy()
    rng = np.random.default_rng(3)
    raw["region"] = rng.choice(["north", "south", "east"], size=len(raw))
    raw["email"] = [f"user{i % 7}@example.org" for i in range(len(raw))]
    raw["y"] = y
    return raw


def masked(raw: pd.DataFrame) -> pd.DataFrame:
    from engine.data.pii import mask

    return mask(raw, PII, salt_env="SOUS_PII_SALT")


def fit(frame: pd.DataFrame) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [("c", OneHotEncoder(handle_unknown="ignore"), ["region", "email"])],
        remainder="passthrough",
    )
    return make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(frame[FEATURES], frame["y"])


def package_monitored(name: str = "iris") -> tuple[Any, Any, pd.DataFrame]:
    """A version packaged with its monitoring reference, as ``sous run`` does."""
    from engine.monitor.reference import build_reference
    from engine.serving import FeatureField, package
    from engine.specs import BentoSpec, ColumnSpec, DeploySpec, SchemaSpec, frozen_map

    raw = raw_frame()
    train = masked(raw)
    est = fit(train)
    schema = SchemaSpec(
        columns=(
            ColumnSpec("sepal length (cm)", checks=frozen_map({"ge": 0, "le": 10})),
            ColumnSpec("region", checks=frozen_map({"isin": ["north", "south", "east"]})),
        )
    )
    accuracy = float((est.predict(train[FEATURES]) == train["y"]).mean())
    reference = build_reference(
        train,
        FEATURES,
        est.predict(train[FEATURES]),
        {"accuracy": accuracy},
        schema,
        task="classification",
        classes=list(est.classes_),
        pii=tuple(PII),
    )
    packaged = package(
        name=name,
        estimator=est,
        task="classification",
        features=[FeatureField(c, "float") for c in NUMERIC]
        + [FeatureField("region", "str"), FeatureField("email", "str")],
        classes=list(est.classes_),
        metrics={"accuracy": accuracy},
        labels={"recipe": name, "run_id": "not-a-recorded-run"},
        deploy=DeploySpec(bento=BentoSpec(name=name), log_requests=True),
        pii=PII,
        reference=reference,
    )
    return est, packaged, raw


def client_rows(raw: pd.DataFrame, n: int, seed: int, shift: float = 0.0) -> list[dict[str, Any]]:
    """What clients send: rows drawn from the training data (raw, PII included)."""
    sample = raw.sample(n, replace=True, random_state=seed)[FEATURES].copy()
    sample[SHIFTED] = sample[SHIFTED] + shift
    return [
        {k: (float(v) if k in NUMERIC else v) for k, v in r.items()}
        for r in sample.to_dict("records")
    ]


def send(url: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i in range(0, len(body), 50):
        r = httpx.post(url + "/predict_batch", json=body[i : i + 50], timeout=30)
        assert r.status_code == 200, r.text
        out += r.json()
    return out


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two phases of real traffic: as in training, then one feature shifted by 2 std."""
    from engine.serving import BentoServer

    home = tmp_path_factory.mktemp("sous")
    with sous_home(home, SOUS_PII_SALT=SALT):
        _, packaged, raw = package_monitored()
        two_std = 2 * float(raw[SHIFTED].std())
        with BentoServer(packaged.bento_tag) as server:
            t0 = time.time()
            send(server.url, client_rows(raw, 400, seed=1))
            t_mid = time.time()
            time.sleep(0.05)
            send(server.url, client_rows(raw, 400, seed=2, shift=two_std))
            t_end = time.time() + 1
        yield {"home": home, "packaged": packaged, "raw": raw, "t": (t0, t_mid, t_end)}


def monitor_cli(*args: str) -> tuple[int, dict[str, Any]]:
    from engine.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["monitor", "iris", "--json", *args])
    return code, json.loads(out.getvalue())


def test_reference_is_kept_with_the_version_bounded_and_pii_free(traffic: dict[str, Any]) -> None:
    from engine.monitor.reference import REFERENCE_FILE
    from engine.serving.packaging import model_info

    path = model_info(traffic["packaged"].model_tag).path_of(REFERENCE_FILE)
    with open(path) as fh:
        text = fh.read()
    assert len(text) < 64_000
    ref = json.loads(text)
    assert set(ref["features"]) == {*NUMERIC, "region"} and ref["skipped"] == ["email"]
    assert ref["prediction"]["categories"] and ref["metrics"]["accuracy"] > 0.9
    assert "@example.org" not in text


def test_rows_drawn_from_training_data_show_no_drift(traffic: dict[str, Any]) -> None:
    t0, t_mid, _ = traffic["t"]
    code, report = monitor_cli("--since", str(t0), "--until", str(t_mid))
    assert code == 0, report["alerts"]
    assert report["model"] == "iris" and report["version"] == traffic["packaged"].version
    assert report["n"] == 400
    assert report["drifted"] == [] and report["alerts"] == []
    assert set(report["features"]) == {*NUMERIC, "region"}
    for name, f in report["features"].items():
        assert set(f) >= {"score", "pvalue", "drifted", "method"}
        assert f["method"] == ("chi2" if name == "region" else "ks")
        assert f["out_of_schema"] == 0
    assert report["prediction_drift"]["drifted"] is False
    assert report["traffic"]["champion/served"]["rows"] == 400


def test_one_feature_shifted_two_std_is_the_only_one_flagged(traffic: dict[str, Any]) -> None:
    _, t_mid, t_end = traffic["t"]
    code, report = monitor_cli("--since", str(t_mid), "--until", str(t_end))
    assert code == 3  # the documented "an alert fired" exit code
    assert report["n"] == 400
    assert report["drifted"] == [SHIFTED]
    assert report["features"][SHIFTED]["score"] > 1.0
    assert report["features"][SHIFTED]["pvalue"] < 1e-6
    kinds = {(a["kind"], a["subject"]) for a in report["alerts"]}
    assert ("feature_drift", SHIFTED) in kinds
    assert not {s for k, s in kinds if k == "feature_drift"} - {SHIFTED}


def test_no_raw_pii_in_any_report(traffic: dict[str, Any], tmp_path: Any) -> None:
    from engine.data.pii import hash_value

    html = tmp_path / "drift.html"
    _, report = monitor_cli("--since", str(traffic["t"][0]), "--html", str(html))
    text = json.dumps(report) + html.read_text()
    hashed = {hash_value(f"user{i}@example.org", SALT.encode()) for i in range(7)}
    assert "@example.org" not in text
    assert not any(h in text for h in hashed)
    assert "<script src" not in html.read_text() and "http" not in html.read_text().split(
        "<body", 1
    )[1].replace("http-equiv", "")
