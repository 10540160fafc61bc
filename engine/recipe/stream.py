"""``features.windows`` and ``stream:`` -> WindowsSpec and StreamSpec (issue 13).

Window definitions are declared once; the batch side reads them through the ``windows``
integration step (added at the end of ``data.integrate`` when the recipe does not place
it), which carries the definitions so that its cache key covers them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine import specs
from engine.recipe.problems import Issues, Section, did_you_mean, is_number, one_of

FEATURES = frozenset({"windows"})
WINDOWS = frozenset({"key", "time", "source", "allowed_lateness", "aggregations"})
AGGREGATION = frozenset({"agg", "column", "window", "kind"})
STREAM = frozenset(
    {"source", "sink", "dead_letter", "model", "max_batch", "max_wait_ms", "claim_idle_ms",
     "dedupe_ids"}
)  # fmt: skip
MODEL = frozenset({"name", "url", "refresh_s"})
SOURCE_KINDS = ("redis", "directory")
SINK_KINDS = ("parquet", "redis")
FILE_FORMATS = ("parquet", "csv", "jsonl")


def convert_features(
    top: Section, data: specs.DataSpec, issues: Issues
) -> tuple[specs.FeaturesSpec | None, specs.DataSpec]:
    """The features section, and ``data`` with its ``windows`` step carrying the definitions."""
    if not top.has("features"):
        return None, data
    features = top.mapping("features", FEATURES)
    if not features.has("windows"):
        return specs.FeaturesSpec(), data
    windows = _windows(features.mapping("windows", WINDOWS), data, issues)
    if windows is None:
        return specs.FeaturesSpec(), data
    return specs.FeaturesSpec(windows=windows), _with_windows_step(data, windows)


def _windows(section: Section, data: specs.DataSpec, issues: Issues) -> specs.WindowsSpec | None:
    key = section.text("key", required=True)
    time = section.text("time", required=True)
    names = [s.name for s in data.sources]
    source = section.text("source", choices=names or None)
    lateness = _duration(section, "allowed_lateness", 0.0, issues)
    aggs = section.mapping("aggregations")
    if not aggs.data:
        issues.missing(
            aggs.path, "at least one aggregation: {NAME: {agg: sum, column: C, window: 1h}}"
        )
    out = []
    for name in aggs.data:
        a = aggs.mapping(name, AGGREGATION)
        agg = a.text("agg", required=True, choices=specs.WINDOW_AGGS)
        column = a.text("column", required=agg not in (None, "count"))
        window = _duration(a, "window", None, issues, required=True)
        kind = a.text("kind", "sliding", choices=specs.WINDOW_KINDS)
        if agg is not None and window is not None:
            out.append(specs.WindowFeatureSpec(name, agg, window, column, kind))
    if key is None or time is None or len(out) != len(aggs.data):
        return None
    return specs.WindowsSpec(
        key=key,
        time=time,
        aggregations=tuple(out),
        source=source,
        allowed_lateness_s=lateness or 0.0,
    )


def _duration(
    section: Section, key: str, default: float | None, issues: Issues, *, required: bool = False
) -> float | None:
    from engine.features.windows import parse_window

    raw = section.raw(key)
    if raw is None:
        if required:
            issues.missing(section.key(key), 'a duration like "5m", "1h" or "7d"')
        return default
    try:
        value = parse_window(raw)
    except ValueError:
        issues.wrong(section.key(key), raw, 'a duration like "30s", "5m", "1h" or "7d"')
        return default
    if required and value <= 0:
        issues.wrong(section.key(key), raw, "a positive duration")
        return default
    return value


def _with_windows_step(data: specs.DataSpec, windows: specs.WindowsSpec) -> specs.DataSpec:
    from engine.features.windows import spec_to_plain

    definitions = specs.frozen_map({"definitions": spec_to_plain(windows)})
    steps = list(data.integrate)
    placed = [i for i, s in enumerate(steps) if s.op == "windows"]
    if not placed and data.sources:
        source = windows.source or data.sources[0].name
        steps.append(specs.IntegrateSpec(op="windows", source=source, options=definitions))
    for i in placed:
        steps[i] = dataclasses.replace(steps[i], options=definitions)
    return dataclasses.replace(data, integrate=tuple(steps))


def convert_stream(
    top: Section, model_name: str | None, base_dir: Path, issues: Issues
) -> specs.StreamSpec | None:
    if not top.has("stream"):
        return None
    stream = top.mapping("stream", STREAM)
    source = _endpoint(stream, "source", SOURCE_KINDS, base_dir, issues, required=True)
    sink = _endpoint(stream, "sink", SINK_KINDS, base_dir, issues, required=True)
    dead = _endpoint(stream, "dead_letter", SINK_KINDS, base_dir, issues, required=False)
    model = stream.mapping("model", MODEL)
    url = model.text("url")
    model_spec = specs.StreamModelSpec(
        name=model.text("name", None if url else model_name),
        url=url,
        refresh_s=model.number("refresh_s", 2.0, low=0, low_inclusive=True),
    )
    if source is None or sink is None:
        return None
    return specs.StreamSpec(
        source=source,
        sink=sink,
        model=model_spec,
        dead_letter=dead,
        max_batch=stream.integer("max_batch", 500, minimum=1),
        max_wait_ms=stream.integer("max_wait_ms", 100, minimum=0),
        claim_idle_ms=stream.integer("claim_idle_ms", 30_000, minimum=1),
        dedupe_ids=stream.integer("dedupe_ids", 100_000, minimum=0),
    )


def _endpoint(
    stream: Section,
    key: str,
    kinds: tuple[str, ...],
    base_dir: Path,
    issues: Issues,
    *,
    required: bool,
) -> specs.StreamEndpointSpec | None:
    if not stream.has(key):
        if required:
            issues.missing(stream.key(key), f"{{kind: {' | '.join(kinds)}, ...}}")
        return None
    section = stream.mapping(key)
    kind = section.text("kind", required=True)
    if kind is None:
        return None
    if kind not in kinds and key != "source":  # sources may be plug-ins (sous.stream_sources)
        issues.add(
            section.key("kind"),
            f"unknown {key} kind {kind!r}",
            expected=one_of(kinds),
            got=repr(kind),
            hint=did_you_mean(kind, kinds) or f"use one of {', '.join(kinds)}",
        )
        return None
    options = {k: v for k, v in section.data.items() if k != "kind"}
    _check_options(section, kind, issues)
    path = options.get("path")
    if isinstance(path, str) and "://" not in path:
        options["path"] = str((base_dir / Path(path).expanduser()).resolve())
    return specs.StreamEndpointSpec(kind=kind, options=specs.frozen_map(options))


def _check_options(section: Section, kind: str, issues: Issues) -> None:
    if kind == "redis":
        section.text("url", required=True)
        section.text("stream", required=True)
        section.text("group")
        section.text("consumer")
        maxlen = section.raw("maxlen")
        if maxlen is not None and not (is_number(maxlen) and maxlen > 0):
            issues.wrong(section.key("maxlen"), maxlen, "a positive number of entries")
    elif kind == "directory":
        section.text("path", required=True)
        section.text("format", choices=FILE_FORMATS)
    elif kind == "parquet":
        section.text("path")
        section.text("partition", choices=("hour", "day", "none"))
    if kind in ("parquet", "redis") and section.path.endswith("sink"):
        section.str_list("include")
