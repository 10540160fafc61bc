"""Shared set-up for the monitoring integration tests: an iris model with a categorical and a
PII column, packaged with its monitoring reference, and traffic drawn from its training data."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pandas as pd
from serving_support import iris_data

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


def fit(frame: pd.DataFrame, c: float = 1.0) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [("c", OneHotEncoder(handle_unknown="ignore"), ["region", "email"])],
        remainder="passthrough",
    )
    model = LogisticRegression(C=c, max_iter=1000)
    return make_pipeline(pre, model).fit(frame[FEATURES], frame["y"])


CRASH_AT = 1000.0  # a crashing model raises RuntimeError on a sepal width at least this
REFUSE_AT = -1000.0  # ... and ValueError (its input refused) at most this


def crashing(est: Any, crash_at: float = CRASH_AT) -> Any:
    """``est`` wrapped to fail on some inputs: a server failure (RuntimeError, a 5xx) on a
    sepal width >= CRASH_AT, a refused input (ValueError, a 422) <= REFUSE_AT. The class is
    local, so cloudpickle packs it by value and the served process needs no test module."""

    class Crashing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.classes_ = inner.classes_

        def _check(self, x: Any) -> None:
            width = x["sepal width (cm)"]
            if (width >= crash_at).any():
                raise RuntimeError("the model crashed")
            if (width <= REFUSE_AT).any():
                raise ValueError("sepal width out of range")

        def predict(self, x: Any) -> Any:
            self._check(x)
            return self.inner.predict(x)

        def predict_proba(self, x: Any) -> Any:
            self._check(x)
            return self.inner.predict_proba(x)

    return Crashing(est)


def package_monitored(
    name: str = "iris",
    labels: dict[str, str] | None = None,
    c: float = 1.0,
    wrap: Any = None,
    **deploy_kw: Any,
) -> tuple[Any, Any, pd.DataFrame]:
    """A version packaged with its monitoring reference, as ``sous run`` does (``wrap``: a
    function of the fitted estimator giving the one to package, e.g. :func:`crashing`)."""
    from engine.drift.reference import build_reference
    from engine.serving import FeatureField, package
    from engine.specs import BentoSpec, ColumnSpec, DeploySpec, SchemaSpec, frozen_map

    raw = raw_frame()
    train = masked(raw)
    est = fit(train, c)
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
        estimator=est if wrap is None else wrap(est),
        task="classification",
        features=[FeatureField(c, "float") for c in NUMERIC]
        + [FeatureField("region", "str"), FeatureField("email", "str")],
        classes=list(est.classes_),
        metrics={"accuracy": accuracy},
        labels={"recipe": name, "run_id": "not-a-recorded-run", **(labels or {})},
        deploy=DeploySpec(
            bento=deploy_kw.pop("bento", None) or BentoSpec(name=name),
            log_requests=True,
            **deploy_kw,
        ),
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


def send(
    url: str, body: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    out = []
    for i in range(0, len(body), 50):
        r = httpx.post(url + "/predict_batch", json=body[i : i + 50], headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        out += r.json()
    return out


def monitor_cli(*args: str) -> tuple[int, dict[str, Any]]:
    """``sous monitor iris --json ARGS`` in process: (exit code, report)."""
    from engine.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["monitor", "iris", "--json", *args])
    return code, json.loads(out.getvalue())


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[dict[str, Any]]:
    """Yields ``{"url", "posts", "status"}``; every POST body is parsed into ``posts``."""
    state: dict[str, Any] = {"posts": [], "status": status}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["posts"].append(json.loads(body))
            self.send_response(state["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
