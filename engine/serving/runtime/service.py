"""The logic behind the generated service: route, batch, predict, measure, log.

The generated ``service.py`` only declares the typed records and the endpoints; it hands
validated records to :class:`SousRuntime`. Keeping the logic here (tested as plain Python)
makes the generated source small and the same for every model.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.data.pii import REDACTED, hash_value, salt_from_env
from engine.serving.runtime import outcomes, readiness
from engine.serving.runtime.batching import MicroBatcher, Overloaded
from engine.serving.runtime.predictor import Predictor
from engine.serving.runtime.reqlog import RequestLog


class ScoringError(Exception):
    """The model refused well-typed input (e.g. a category it never saw): the caller's
    problem, answered 422, not a server failure."""


CHAMPION = "champion"
CHALLENGER = "challenger"
FALLBACK = "fallback"  # deploy.fallback: answers when a served variant fails to score


def pii_masks(features: Sequence[Mapping[str, Any]], pii: Mapping[str, str]) -> dict[int, str]:
    """Feature position -> ``hash`` | ``redact`` for PII columns the model takes as input.

    Training saw these columns masked (``data.pii`` runs at load), so a client's raw value
    must be masked the same way before the model sees it, and before it is logged.
    """
    return {
        i: pii[f["name"]]
        for i, f in enumerate(features)
        if pii.get(f["name"]) in ("hash", "redact")
    }


def freeze_heap() -> None:
    """Move everything loaded so far (BentoML, pandas, the model's trees) out of the garbage
    collector's reach. A full collection walks every live object: with a forest loaded that
    stalls all in-flight requests for ~100 ms every second or two under load."""
    import gc

    gc.collect()
    gc.freeze()


def route_share(key: str | None, share: float, rng: random.Random) -> bool:
    """True when a request goes to the challenger; a given key always gets the same answer."""
    if share <= 0:
        return False
    if key is None:
        return rng.random() < share
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 10_000
    return bucket < share * 10_000


SMOKE_ENV = "SOUS_SMOKE_SERVER"  # set by the smoke test: its traffic is not production's
PARENT_ENV = "SOUS_PARENT_PID"  # set by `sous run`: the server exits when that process is gone


def log_dir(config: Mapping[str, Any]) -> Path:
    """Where the request log goes: the smoke test's traffic apart from served traffic, so
    monitoring never reads test rows as production requests."""
    from engine.home import sous_home

    sub = "smoke-requests" if os.environ.get(SMOKE_ENV) else "requests"
    return sous_home() / "serving" / str(config["name"]) / sub


_watching = False


def watch_parent(interval_s: float = 1.0) -> None:
    """When ``$SOUS_PARENT_PID`` names a process, stop this server's whole process group once
    it is gone (``sous run`` killed with SIGKILL cannot stop its smoke server itself)."""
    global _watching
    pid = int(os.environ.get(PARENT_ENV) or 0)
    if pid <= 0 or _watching:
        return
    _watching = True
    import threading

    def watch() -> None:
        import signal

        while _alive(pid):
            time.sleep(interval_s)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(os.getpgrp(), sig)
            except OSError:
                return
            time.sleep(5)

    threading.Thread(target=watch, name="sous-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class SousRuntime:
    """Serves one model version, or two (``routing.mode`` ``ab`` or ``shadow``)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        predictors: Mapping[str, Predictor],
        *,
        metrics: Any | None = None,
        log_dir: str | Path | None = None,
        seed: int | None = None,
    ):
        self.config = config
        self.features = list(config["features"])
        self.routing = dict(config.get("routing") or {"mode": "single"})
        batching = dict(config.get("batching") or {})
        self.predictors = dict(predictors)
        self.batchers = {
            name: MicroBatcher(
                p,
                max_batch_size=int(batching.get("max_batch_size", 64)),
                max_latency_ms=float(batching.get("max_latency_ms", 10_000)),
            )
            for name, p in self.predictors.items()
        }
        self.metrics = metrics
        self.log: RequestLog | None = None
        if config.get("log_requests") and log_dir is not None:
            self.log = RequestLog(log_dir, background=True)  # parquet writes off the loop
        self.masks = pii_masks(self.features, config.get("pii") or {})
        self.salt = (
            salt_from_env(str(config.get("pii_salt_env") or "SOUS_PII_SALT"))
            if "hash" in self.masks.values()
            else b""
        )
        self._rng = random.Random(seed)
        self._background: set[asyncio.Task[None]] = set()
        self.live: dict[str, Any] = {}  # variant -> (LiveDrift, DriftGauges): issue 12

    @classmethod
    def from_models(cls, config: Mapping[str, Any], models: Mapping[str, Any]) -> SousRuntime:
        """Build from BentoML stored models (``.path``, ``.tag``, ``.info.metadata``)."""
        from engine.serving.runtime import logsafe
        from engine.serving.runtime.metrics import Metrics

        logsafe.install()  # no rejected request value in the served process's logs

        token_env = config.get("auth_token_env")
        if token_env and not os.environ.get(str(token_env)):
            # Fail at start-up, loudly, rather than answer every request with an error.
            raise RuntimeError(f"auth is enabled but env var {token_env} is empty or unset")

        predictors = {
            name: Predictor.load(m.path, m.info.metadata, str(m.tag.version))
            for name, m in models.items()
        }
        runtime = cls(
            config, predictors, metrics=Metrics(str(config["name"])), log_dir=log_dir(config)
        )
        runtime.watch_drift({name: m.path for name, m in models.items()})
        outcomes.register(runtime.log_failure)  # the guard's error answers, logged
        readiness.register(runtime.ready)  # /readyz scores the version's readiness row
        freeze_heap()
        return runtime

    def set_routing(self, *, share: float | None = None, mode: str | None = None) -> dict[str, Any]:
        """Change the A/B share or the mode (``ab`` | ``shadow``) of a two-version service
        while it runs (an admin call); ValueError on a bad value. Returns the routing now."""
        if CHALLENGER not in self.predictors:
            raise ValueError("this service serves one version: there is no routing to change")
        routing = dict(self.routing)
        if share is not None:
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"share must be within [0, 1], got {share}")
            routing["share"] = float(share)
        if mode is not None:
            if mode not in ("ab", "shadow"):
                raise ValueError(f"mode must be 'ab' or 'shadow', got {mode!r}")
            routing["mode"] = mode
        self.routing = routing
        return self.routing_state()

    def routing_state(self) -> dict[str, Any]:
        """The routing as served now, with the version of each variant."""
        return {
            "mode": str(self.routing.get("mode", "single")),
            "share": float(self.routing.get("share", 0.0)),
            "versions": {v: p.version for v, p in self.predictors.items()},
        }

    def choose(self, headers: Mapping[str, str]) -> str:
        if self.routing.get("mode") != "ab":
            return CHAMPION
        key = headers.get(self.routing.get("sticky_header", "x-sous-key"))
        to_b = route_share(key, float(self.routing.get("share", 0.0)), self._rng)
        return CHALLENGER if to_b else CHAMPION

    def rows(self, records: Sequence[Any]) -> list[list[Any]]:
        """Feature values in model order, PII columns masked as they were for training."""
        rows = [[getattr(r, f["py"]) for f in self.features] for r in records]
        for i, action in self.masks.items():
            for row in rows:
                if row[i] is not None:
                    row[i] = hash_value(row[i], self.salt) if action == "hash" else REDACTED
        return rows

    async def predict(
        self, records: Sequence[Any], headers: Mapping[str, str], endpoint: str
    ) -> list[dict[str, Any]]:
        """Predictions for validated records; raises ``Overloaded`` past the deadline."""
        rows = self.rows(records)
        variant = self.choose(headers)
        preds = await self._run(variant, rows, endpoint)
        if self.routing.get("mode") == "shadow" and CHALLENGER in self.batchers:
            ids = [p["request_id"] for p in preds]  # the shadow rows join the same feedback
            task = asyncio.get_running_loop().create_task(self._shadow(rows, endpoint, ids))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return preds

    async def _run(
        self, variant: str, rows: list[list[Any]], endpoint: str
    ) -> list[dict[str, Any]]:
        """Score ``rows`` with ``variant``; when it fails (an exception, not a refusal of
        the input) and the service has a fallback version, the fallback answers (its latency
        counts from the request's start: the client waited for both)."""
        t0 = time.perf_counter()
        preds = await self._scored(variant, rows, endpoint, t0, outcomes.OK)
        if preds is not None:
            return self._answer(variant, rows, preds, endpoint, t0, outcomes.OK)
        preds = await self._scored(FALLBACK, rows, endpoint, t0, outcomes.FALLBACK)
        assert preds is not None  # the fallback's own failure raises
        return self._answer(FALLBACK, rows, preds, endpoint, t0, outcomes.FALLBACK)

    async def _scored(
        self, variant: str, rows: list[list[Any]], endpoint: str, t0: float, ok: str
    ) -> list[Any] | None:
        """``variant``'s predictions, observed and noted with ``ok`` or what went wrong; None
        when it failed and the fallback version may answer instead."""
        predictor = self.predictors[variant]
        outcome = ok
        note = outcomes.note()
        if note is not None:
            note.version, note.variant = predictor.version, variant
        try:
            return await self.batchers[variant].submit(rows)
        except Overloaded:
            outcome = outcomes.OVERLOADED
            raise
        except (ValueError, TypeError, KeyError) as exc:
            outcome = outcomes.REJECTED
            raise ScoringError(f"the model could not score this input: {exc}") from exc
        except Exception:
            outcome = outcomes.ERROR
            if FALLBACK not in self.batchers or variant == FALLBACK:
                raise
            return None
        finally:
            self._observe(predictor.version, variant, endpoint, outcome, len(rows), t0)
            if note is not None:
                note.outcome = outcome

    def _answer(
        self,
        variant: str,
        rows: list[list[Any]],
        preds: list[Any],
        endpoint: str,
        t0: float,
        outcome: str,
    ) -> list[dict[str, Any]]:
        version = self.predictors[variant].version
        out = [{**p, "model_version": version, "variant": variant} for p in preds]
        for p in out:  # what `POST /feedback` names to give this answer its true label
            p["request_id"] = uuid.uuid4().hex
        self._watch(variant, version, rows, out)
        self._log(rows, out, endpoint=endpoint, role="served", t0=t0, outcome=outcome)
        return out

    async def _shadow(self, rows: list[list[Any]], endpoint: str, ids: Sequence[str] = ()) -> None:
        """The challenger's answer: measured and logged, never returned."""
        predictor = self.predictors[CHALLENGER]
        t0 = time.perf_counter()
        try:
            preds = await self.batchers[CHALLENGER].submit(rows)
        except Exception:
            self._observe(predictor.version, CHALLENGER, endpoint, "error", len(rows), t0)
            return
        self._observe(predictor.version, CHALLENGER, endpoint, "shadow", len(rows), t0)
        out = [{**p, "model_version": predictor.version, "variant": CHALLENGER} for p in preds]
        for p, rid in zip(out, ids, strict=False):
            p["request_id"] = rid
        self._watch(CHALLENGER, predictor.version, rows, out)
        self._log(rows, out, endpoint=endpoint, role="shadow", t0=t0)

    def _observe(
        self, version: str, variant: str, endpoint: str, outcome: str, n: int, t0: float
    ) -> None:
        if self.metrics is not None:
            self.metrics.observe(
                version=version,
                variant=variant,
                endpoint=endpoint,
                outcome=outcome,
                rows=n,
                seconds=time.perf_counter() - t0,
            )

    def _log(
        self,
        rows: list[list[Any]],
        out: list[dict[str, Any]],
        *,
        endpoint: str,
        role: str,
        t0: float,
        outcome: str = outcomes.OK,
    ) -> None:
        if self.log is None:
            return
        names = [f["name"] for f in self.features]
        records = [dict(zip(names, r, strict=True)) for r in rows]
        self.log.write(
            records,
            out,
            endpoint=endpoint,
            role=role,
            variant=out[0]["variant"] if out else "",
            version=out[0]["model_version"] if out else "",
            latency_ms=(time.perf_counter() - t0) * 1000.0,
            outcome=outcome,
        )

    def log_failure(self, failure: outcomes.Failure) -> None:
        """A prediction request answered with an error (the guard reports it): one row in
        the request log, no feature value; counted in the metrics when no model saw it."""
        if failure.version is None:  # refused before routing: the service's own version
            failure = replace(failure, version=self.predictors[CHAMPION].version)
            if self.routing.get("mode") != "ab":  # every request goes to the champion
                failure = replace(failure, variant=CHAMPION)
        if failure.outcome == outcomes.REFUSED and self.metrics is not None:
            self.metrics.observe(
                version=str(failure.version),
                variant=failure.variant,
                endpoint=failure.endpoint,
                outcome=failure.outcome,
                rows=0,
                seconds=failure.latency_ms / 1000.0,
            )
        if self.log is not None:
            self.log.write_failure(failure)

    async def drain(self) -> None:
        """Wait for shadow predictions still running (tests, shutdown)."""
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # Monitoring (issue 12) ----------------------------------------------------------------

    def record_feedback(self, body: Any) -> dict[str, int]:
        """``POST /feedback``: true labels of earlier answers, kept beside the request log
        (ValueError, answered 400, when the body is wrong or requests are not logged)."""
        from engine.drift.feedback import FeedbackLog, parse

        items = parse(body)
        if self.log is None:
            raise ValueError("this service does not log requests (deploy.log_requests is "
                             "false): feedback could not be joined with its answers")  # fmt: skip
        directory = self.log.directory
        FeedbackLog(directory.parent / directory.name.replace("requests", "feedback")).write(items)
        return {"accepted": len(items)}

    def watch_drift(self, model_dirs: Mapping[str, Any], factory: Any | None = None) -> None:
        """Rolling-window drift gauges per variant, for versions packaged with a reference
        (``factory``: bentoml.metrics in the server, prometheus_client-like in tests)."""
        from engine.drift.live import LiveDrift
        from engine.serving.runtime.metrics import DriftGauges

        columns = [f["name"] for f in self.features]
        gauges = None
        for variant, model_dir in model_dirs.items():
            live = LiveDrift.from_model_dir(model_dir, columns)
            if live is not None:
                gauges = gauges or DriftGauges(str(self.config["name"]), factory)
                self.live[variant] = (live, gauges)

    def _watch(
        self, variant: str, version: str, rows: list[list[Any]], out: list[dict[str, Any]]
    ) -> None:
        entry = self.live.get(variant)
        if entry is None:
            return
        live, gauges = entry
        if live.observe(rows, [p["prediction"] for p in out]):
            gauges.publish(version=version, variant=variant, scores=live.scores(), mix=live.mix())

    async def ready(self) -> str | None:
        """``/readyz``: None when the version's readiness row is scored through the serving
        path by every routed variant (one that fails may lean on a fallback that scores it),
        else what failed. A refusal of the row (a 4xx) counts as scored: the model ran; so
        does a full queue (503s shed load; taking the server out would shift it to others)."""
        row = readiness.row_of(self.config.get("readiness_row"))  # sealed if encrypted
        if row is None:
            return None
        failed: dict[str, str] = {}
        for variant, batcher in self.batchers.items():
            try:
                await asyncio.wait_for(batcher.submit([list(row)]), readiness.TIMEOUT_S)
            except (ValueError, TypeError, KeyError, Overloaded):
                continue  # the model ran (refused the row), or is busy serving others
            except TimeoutError:
                failed[variant] = f"no answer in {readiness.TIMEOUT_S:.0f} s"
            except Exception as exc:
                failed[variant] = f"{type(exc).__name__}: {str(exc)[:200]}"
        if FALLBACK in self.batchers and FALLBACK not in failed:
            failed = {}  # every failing variant's requests are answered by the fallback
        if not failed:
            return None
        return "; ".join(
            f"{v} {self.predictors[v].version} could not score the readiness row ({why})"
            for v, why in failed.items()
        )

    async def aclose(self) -> None:
        """Shutdown, after the server drained its requests: finish the shadow predictions
        still running, then flush the request log."""
        await self.drain()
        self.close()

    def close(self) -> None:
        from engine.serving.runtime import offload

        offload.shutdown()  # the body-parsing helper process, if one was started
        if self.log is not None:
            self.log.flush()
