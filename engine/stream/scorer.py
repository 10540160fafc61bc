"""Scoring a micro-batch: in process with the registry's promoted version, or over HTTP.

The in-process scorer re-reads the alias (production, else staging) at most every
``refresh_s`` seconds and loads a new version when it moved, so a promotion or a rollback
reaches a running stream without a restart; every scored row says which version scored it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import NotFoundError, RunError
from engine.specs import StreamModelSpec


@dataclass(frozen=True)
class Scored:
    """Predictions of one micro-batch, in row order, and the version that made them."""

    version: str
    predictions: list[Any]
    probabilities: list[Mapping[str, float] | None]


class Scorer(Protocol):
    def prepare(self) -> None:
        """Load the model before the first read (a consumer holding unacknowledged entries
        while it loads would look idle to the others)."""
        ...

    def score(self, rows: Sequence[Mapping[str, Any]]) -> Scored: ...


class RegistryScorer:
    """The promoted version of ``name`` from the registry and BentoML's model store.

    The alias is polled by a thread every ``refresh_s`` seconds, which also loads a new
    version: a batch never waits on the registry or on unpickling a model, it takes the
    predictor the thread last installed (a promotion shows within ``refresh_s``). With
    ``refresh_s: 0`` there is no thread: every batch checks the alias first (a promotion
    shows at the next batch, at the cost of a registry read per batch)."""

    def __init__(self, name: str, refresh_s: float = 2.0):
        self.name = name
        self.refresh_s = refresh_s
        self.version: str | None = None
        self._predictor: Any = None
        self._stop: threading.Event | None = None
        self._error: BaseException | None = None

    def promoted(self) -> str:
        from engine.store import registry

        for alias in ("production", "staging"):
            found = registry.get_alias(self.name, alias)
            if found:
                return found
        raise NotFoundError(
            f"model {self.name!r} has no production or staging version to score with",
            hint=f"run the recipe (`sous run`) or `sous promote {self.name} VERSION --to staging`",
        )

    def refresh(self) -> None:
        """Load the promoted version if it is not the one scoring."""
        version = self.promoted()
        if version != self.version:
            predictor = self._load(version)
            self._predictor, self.version = predictor, version  # one reference swap

    def predictor(self) -> Any:
        if self._error is not None:
            raise self._error
        if self._predictor is None or self.refresh_s <= 0:
            self.refresh()
        return self._predictor

    def _poll(self, stop: threading.Event) -> None:
        while not stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception as exc:  # raised by the next batch, as it was inline
                self._error = exc
            else:
                self._error = None

    def _load(self, version: str) -> Any:
        from engine.serving.packaging import model_info
        from engine.serving.runtime.predictor import Predictor
        from engine.store import registry
        from engine.stream.forest import accelerate

        record = registry.get_version(self.name, version)
        info = model_info(record.model_tag)
        predictor = Predictor.load(info.path, info.info.metadata, version)
        predictor.estimator = accelerate(predictor.estimator)  # same probabilities, less overhead
        return predictor

    def prepare(self) -> None:
        self.refresh()
        if self._stop is None and self.refresh_s > 0:  # 0: checked inline, never a busy loop
            self._stop = threading.Event()
            threading.Thread(
                target=self._poll, args=(self._stop,), name="sous-stream-model", daemon=True
            ).start()

    def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    def feature_columns(self) -> list[str]:
        """The model's input columns (the request log keeps these)."""
        return list(self.predictor().columns)

    def score(self, rows: Sequence[Mapping[str, Any]]) -> Scored:
        predictor = self.predictor()
        table = [[row.get(c) for c in predictor.columns] for row in rows]
        answers = predictor(table) if table else []
        return Scored(
            version=str(predictor.version),
            predictions=[a["prediction"] for a in answers],
            probabilities=[a.get("probabilities") for a in answers],
        )


class UrlScorer:
    """A served model (``sous serve``): ``POST URL/predict_batch`` with the model's columns,
    read once from the service's OpenAPI document."""

    def __init__(self, url: str, chunk: int = 1000):
        self.url = url.rstrip("/")
        self.chunk = chunk
        self._columns: list[str] | None = None

    def prepare(self) -> None:
        self.columns()

    def columns(self) -> list[str]:
        if self._columns is None:
            import httpx

            doc = httpx.get(f"{self.url}/docs.json", timeout=10).json()
            record = doc.get("components", {}).get("schemas", {}).get("Record", {})
            self._columns = list(record.get("properties", {}))
            if not self._columns:
                raise RunError(f"{self.url} does not describe its Record input", step="stream")
        return self._columns

    def score(self, rows: Sequence[Mapping[str, Any]]) -> Scored:
        import httpx

        columns = self.columns()
        out: list[Mapping[str, Any]] = []
        for start in range(0, len(rows), self.chunk):
            body = [{c: r.get(c) for c in columns} for r in rows[start : start + self.chunk]]
            reply = httpx.post(f"{self.url}/predict_batch", json=body, timeout=60)
            if reply.status_code != 200:
                raise RunError(
                    f"{self.url}/predict_batch answered {reply.status_code}: {reply.text[:300]}",
                    step="stream",
                )
            out.extend(reply.json())
        version = str(out[0].get("model_version", "")) if out else ""
        return Scored(
            version=version,
            predictions=[a["prediction"] for a in out],
            probabilities=[a.get("probabilities") for a in out],
        )


def open_scorer(spec: StreamModelSpec) -> Scorer:
    if spec.url:
        return UrlScorer(spec.url)
    if not spec.name:
        from engine.errors import UserError

        raise UserError("the stream names no model", key_path="stream.model.name")
    return RegistryScorer(spec.name, spec.refresh_s)
