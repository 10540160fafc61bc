"""The Monitoring page's data: one model version's drift, live metrics and alerts over time.

Time is cut into the monitor's own windows (``monitor.window``, aligned as alert dedupe
aligns them: window k is ``[k*w, (k+1)*w)``), and each window is one ``sous monitor`` check
(``engine.monitor.monitor.check``, nothing delivered, no history written). A window's check
is cached on the request-log files whose rows can fall in it (name, size, mtime) and on
the feedback files, so a page reloads in the time of the windows whose files changed
(usually only the current one): past windows are not scanned again on a large log.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WINDOWS = 14  # windows drawn by default (two weeks of the default one-day window)
MAX_WINDOWS = 60
HISTORY_SHOWN = 50  # alert history lines shown, newest first
_CACHE_SIZE = 1024  # window checks kept
_FOOTERS_KEPT = 100_000  # log files whose time range is remembered


@dataclass(frozen=True)
class WindowPoint:
    """One window's check: rows, drift score per feature, prediction drift, live metrics."""

    since: float
    until: float
    rows: int
    scores: Mapping[str, float]  # feature -> PSI (only with at least min_samples rows)
    prediction: float | None  # the predictions' PSI
    drifted: tuple[str, ...]
    live: Mapping[str, float]  # live metric -> value (windows with feedback labels)
    drops: Mapping[str, float]  # live metric -> how much worse than at test (positive: worse)
    labelled: int
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class FeatureRow:
    """The latest window's verdict on one column."""

    name: str
    method: str
    score: float
    pvalue: float
    missing_reference: float
    missing_live: float
    out_of_schema: int
    drifted: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MetricRow:
    metric: str
    test: float | None
    live: float | None
    drop: float | None  # positive: worse live than at test
    alert: bool


@dataclass(frozen=True)
class HistoryRow:
    """One ``sous monitor`` check recorded in the model's history (``alerts.history``)."""

    at: float
    version: str
    rows: int
    drifted: tuple[str, ...]
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class MonitorView:
    name: str
    version: str
    versions: tuple[str, ...]
    aliases: tuple[str, ...]
    window_s: float
    min_samples: int
    psi_threshold: float
    metric_drop: float
    points: tuple[WindowPoint, ...]
    features: tuple[FeatureRow, ...]
    metrics: tuple[MetricRow, ...]
    labelled: int
    history: tuple[HistoryRow, ...]
    notes: tuple[str, ...]
    error: str | None = None  # why nothing can be shown (no reference, ...)

    @property
    def latest(self) -> WindowPoint | None:
        return self.points[-1] if self.points else None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for p in self.points for n in p.scores))

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for p in self.points for n in p.live))


@dataclass(frozen=True)
class ModelEntry:
    """A model on the Monitoring index: its versions, and whether traffic was logged."""

    name: str
    versions: tuple[tuple[str, tuple[str, ...]], ...]  # (version, aliases), newest first
    logged: bool
    checks: int  # ``sous monitor`` checks in its history


def models() -> list[ModelEntry]:
    from engine.monitor.locate import request_log_dir
    from engine.monitor.scan import log_files
    from engine.store import registry

    out = []
    for name in registry.names():
        by_version: dict[str, list[str]] = {}
        for alias, version in registry.aliases(name).items():
            by_version.setdefault(version, []).append(alias)
        records = sorted(registry.versions(name), key=lambda v: v.created_at, reverse=True)
        out.append(
            ModelEntry(
                name=name,
                versions=tuple(
                    (r.version, tuple(sorted(by_version.get(r.version, [])))) for r in records
                ),
                logged=bool(log_files(request_log_dir(name))),
                checks=len(_history_lines(name)),
            )
        )
    return out


def aligned_windows(now: float, window_s: float, n: int) -> list[tuple[float, float]]:
    """The last ``n`` windows up to the one holding ``now``, oldest first."""
    current = math.floor(now / window_s)
    return [(k * window_s, (k + 1) * window_s) for k in range(current - n + 1, current + 1)]


def monitor_view(
    name: str,
    version: str | None = None,
    *,
    windows: int = WINDOWS,
    window_s: float | None = None,
    now: float | None = None,
) -> MonitorView:
    """Everything the page shows for ``name``'s version (the monitored one by default)."""
    import dataclasses

    from engine.errors import SousError
    from engine.monitor.locate import locate, reference_of
    from engine.monitor.run import settings_for
    from engine.store import registry

    target = locate(name, version)
    spec, note = settings_for(target)
    if window_s is not None:
        spec = dataclasses.replace(spec, window_s=float(window_s))
    aliases = tuple(sorted(a for a, v in registry.aliases(name).items() if v == target.version))
    versions = tuple(
        r.version for r in sorted(registry.versions(name), key=lambda v: v.created_at, reverse=True)
    )
    base: dict[str, Any] = {
        "name": name,
        "version": target.version,
        "versions": versions,
        "aliases": aliases,
        "window_s": spec.window_s,
        "min_samples": spec.min_samples,
        "psi_threshold": spec.thresholds.psi,
        "metric_drop": spec.metric_drop,
        "history": history_rows(name),
    }
    try:
        reference_of(target)
    except SousError as exc:
        return MonitorView(
            **base, points=(), features=(), metrics=(), labelled=0, notes=(), error=str(exc)
        )
    now = time.time() if now is None else now
    spans = aligned_windows(now, spec.window_s, max(1, min(windows, MAX_WINDOWS)))
    logged = _spans(target.log_dir)  # each file listed and its footer read once per page
    feedback = _signature(target.feedback_dir)
    reports = [_check(target, spec, since, until, logged, feedback) for since, until in spans]
    points = tuple(_point(r) for r in reports)
    last = reports[-1]
    notes = [*last.notes, *([note] if note else [])]
    return MonitorView(
        **base,
        points=points,
        features=tuple(_feature_row(n, d) for n, d in last.features.items()),
        metrics=_metric_rows(last, target.version, name, spec.metric_drop),
        labelled=0 if last.performance is None else last.performance.labelled,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------ one window, cached
_cache: OrderedDict[Hashable, Any] = OrderedDict()
_footers: dict[tuple[str, int, int], tuple[float, float] | None] = {}
_lock = threading.Lock()


_Files = tuple[tuple[str, int, int], ...]  # (name, size, mtime_ns) of parquet files
_Spans = tuple[tuple[tuple[str, int, int], tuple[float, float] | None], ...]


def _check(
    target: Any, spec: Any, since: float, until: float, logged: _Spans, feedback: _Files
) -> Any:
    """``check`` of one window, reused while no file it could read has changed."""
    from engine.monitor.monitor import check

    key = (
        target.name,
        target.version,
        since,
        until,
        repr(spec),  # its settings (thresholds, labels source), frozen
        _files_in(logged, since, until),
        feedback,
    )
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    report = check(target.name, spec, version=target.version, since=since, until=until, now=until)
    with _lock:
        _cache[key] = report
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return report


def _signature(directory: Path) -> _Files:
    if not directory.is_dir():
        return ()
    out = []
    for p in sorted(directory.glob("*.parquet")):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _spans(log_dir: Path) -> _Spans:
    """Each log file with the ``_ts`` range of its rows (None: unknown)."""
    return tuple((f, _ts_range(log_dir / f[0], f[1], f[2])) for f in _signature(log_dir))


def _files_in(logged: _Spans, since: float, until: float) -> _Files:
    """The log files whose ``_ts`` range meets the window."""
    return tuple(f for f, span in logged if span is None or (span[1] >= since and span[0] < until))


def _ts_range(path: Path, size: int, mtime: int) -> tuple[float, float] | None:
    """(min, max) of a log file's ``_ts`` from its parquet statistics; None: unknown."""
    key = (str(path), size, mtime)
    if key in _footers:
        return _footers[key]
    if len(_footers) > _FOOTERS_KEPT:  # files removed by retention leave entries behind
        _footers.clear()
    import pyarrow.parquet as pq

    span: tuple[float, float] | None = None
    try:
        meta = pq.ParquetFile(path).metadata
        j = meta.schema.to_arrow_schema().names.index("_ts")
        lo, hi = math.inf, -math.inf
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(j).statistics
            if stats is None or not stats.has_min_max:
                raise ValueError("no statistics")
            lo, hi = min(lo, float(stats.min)), max(hi, float(stats.max))
        span = (lo, hi) if meta.num_row_groups else None
    except (OSError, ValueError):
        span = None
    _footers[key] = span
    return span


# ------------------------------------------------------------------ shaping
def _point(report: Any) -> WindowPoint:
    scored = {n: d.score for n, d in report.features.items() if d.method != "none"}
    pred = report.prediction
    perf = report.performance
    return WindowPoint(
        since=float(report.since),
        until=float(report.until),
        rows=int(report.n),
        scores=scored,
        prediction=pred.score if pred is not None and pred.method != "none" else None,
        drifted=tuple(report.drifted),
        live={} if perf is None else {k: v for k, v in perf.live.items() if v == v},
        drops={} if perf is None else {k: v for k, v in perf.drops.items() if v == v},
        labelled=0 if perf is None else int(perf.labelled),
        alerts=tuple(a.message for a in report.alerts),
    )


def _feature_row(name: str, d: Any) -> FeatureRow:
    return FeatureRow(
        name=name,
        method=d.method,
        score=d.score,
        pvalue=d.pvalue,
        missing_reference=d.missing_reference,
        missing_live=d.missing_live,
        out_of_schema=d.out_of_schema,
        drifted=d.drifted,
        reasons=tuple(d.reasons),
    )


def _metric_rows(report: Any, version: str, name: str, limit: float) -> tuple[MetricRow, ...]:
    """Live against test per metric; the test metrics alone until feedback labels exist."""
    perf = report.performance
    if perf is not None:
        return tuple(
            MetricRow(
                m,
                perf.test.get(m),
                _finite(perf.live.get(m)),
                _finite(perf.drops.get(m)),
                (_finite(perf.drops.get(m)) or 0.0) > limit,
            )
            for m in dict.fromkeys([*perf.test, *perf.live])
        )
    from engine.store import registry

    metrics = registry.get_version(name, version).metrics
    return tuple(MetricRow(m, float(v), None, None, False) for m, v in sorted(metrics.items()))


def _finite(v: float | None) -> float | None:
    return None if v is None or v != v else float(v)


def _history_lines(name: str) -> list[dict[str, Any]]:
    """The model's check history, read without creating its state directory."""
    from engine.home import sous_home

    if not (sous_home() / "monitor" / name / "history.jsonl").is_file():
        return []
    from engine.monitor.alerts import history

    return history(name)


def history_rows(name: str, keep: int = HISTORY_SHOWN) -> tuple[HistoryRow, ...]:
    rows = []
    for e in reversed(_history_lines(name)[-keep:]):
        rows.append(
            HistoryRow(
                at=float(e.get("at") or 0.0),
                version=str(e.get("version", "")),
                rows=int(e.get("n") or 0),
                drifted=tuple(map(str, e.get("drifted") or ())),
                alerts=tuple(map(str, e.get("alerts") or ())),
            )
        )
    return tuple(rows)


def series(view: MonitorView, names: Sequence[str], field: str) -> list[tuple[str, list[Any]]]:
    """Per name, its value in each window (None where the window had too few rows)."""
    return [
        (n, [getattr(p, field).get(n) for p in view.points])  # scores, live or drops
        for n in names
    ]
