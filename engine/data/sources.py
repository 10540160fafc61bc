"""The source registry and the retrying reader.

A source kind is a plain callable ``(options) -> DataFrame`` plus, optionally, a fingerprint
function and the option keys it accepts. Registries are objects filled explicitly
(:func:`builtin_sources`) or from the ``sous.sources`` entry point group
(:func:`load_entry_points`); nothing registers itself at import time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from engine.data import fingerprint as fp
from engine.data import readers
from engine.errors import SourceError, UserError, choices_hint

if TYPE_CHECKING:
    import pandas as pd

Reader = Callable[[Mapping[str, Any]], "pd.DataFrame"]
Fingerprinter = Callable[[Mapping[str, Any]], str]
# Reads and fingerprints in one pass (a SQL query executed once: the key follows the rows read)
FingerprintingReader = Callable[[Mapping[str, Any]], "tuple[pd.DataFrame, str]"]
T = TypeVar("T")

ENTRY_POINT_GROUP = "sous.sources"
# Options every source accepts; consumed by the retry loop, never passed to the reader.
RETRY_OPTIONS = frozenset({"retries", "retry_backoff"})
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
# OSErrors that retrying cannot fix: the path or the permissions are wrong.
_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


@dataclass(frozen=True)
class SourceKind:
    """One kind of source. ``options`` lists accepted keys (None: accept anything);
    ``required`` lists groups of keys of which at least one must be given."""

    name: str
    read: Reader
    fingerprint: Fingerprinter | None = None
    options: frozenset[str] | None = None
    required: tuple[tuple[str, ...], ...] = ()
    read_fingerprinted: FingerprintingReader | None = None


class SourceRegistry:
    """Source kinds by name; an object, so tests and plugins can build their own."""

    def __init__(self, kinds: Iterable[SourceKind] = ()) -> None:
        self._kinds: dict[str, SourceKind] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: SourceKind) -> None:
        self._kinds[kind.name] = kind

    def register(
        self,
        name: str,
        read: Reader,
        *,
        fingerprint: Fingerprinter | None = None,
        options: Iterable[str] | None = None,
    ) -> None:
        """Register a user-defined reader ``(options) -> DataFrame`` under ``name``."""
        allowed = frozenset(options) if options is not None else None
        self.add(SourceKind(name, read, fingerprint=fingerprint, options=allowed))

    def get(self, name: str, *, key_path: str | None = None) -> SourceKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise UserError(
                f"unknown source kind {name!r}",
                key_path=key_path,
                hint=choices_hint(name, self._kinds),
            ) from None

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._kinds))

    def __contains__(self, name: object) -> bool:
        return name in self._kinds


def builtin_sources() -> SourceRegistry:
    """A registry with the built-in kinds: csv, parquet, json, sql, sklearn."""
    return SourceRegistry(
        [
            SourceKind(
                "csv", readers.read_csv, fp.files_fingerprint, readers.CSV_OPTIONS, (("path",),)
            ),
            SourceKind(
                "parquet",
                readers.read_parquet,
                fp.files_fingerprint,
                readers.PARQUET_OPTIONS,
                (("path",),),
            ),
            SourceKind(
                "json", readers.read_json, fp.files_fingerprint, readers.JSON_OPTIONS, (("path",),)
            ),
            SourceKind(
                "sql",
                readers.read_sql,
                readers.sql_fingerprint,
                readers.SQL_OPTIONS,
                (("url", "path"), ("query", "table")),
                read_fingerprinted=readers.read_sql_fingerprinted,
            ),
            SourceKind(
                "sklearn",
                readers.read_sklearn,
                fp.sklearn_fingerprint,
                readers.SKLEARN_OPTIONS,
                (("name",),),
            ),
        ]
    )


def load_entry_points(registry: SourceRegistry, group: str = ENTRY_POINT_GROUP) -> SourceRegistry:
    """Add every source published under the entry point ``group``.

    An entry point may name a :class:`SourceKind` or a plain reader callable.
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        obj = ep.load()
        if isinstance(obj, SourceKind):
            registry.add(obj)
        elif callable(obj):
            registry.register(ep.name, obj)
        else:
            raise UserError(
                f"entry point {ep.name!r} in group {group!r} is {type(obj).__name__}, "
                "expected a SourceKind or a callable (options) -> DataFrame",
                hint=f"fix the entry point value {ep.value!r} in its package metadata",
            )
    return registry


def default_sources() -> SourceRegistry:
    """Built-ins plus entry points: the registry a run uses unless given another."""
    return load_entry_points(builtin_sources())


def reader_options(spec: Any, kind: SourceKind) -> dict[str, Any]:
    """The options passed to the reader, checked against what the kind accepts."""
    base = f"data.sources.{spec.name}"
    options = {k: v for k, v in spec.options.items() if k not in RETRY_OPTIONS}
    if kind.options is not None:
        for key in options:
            if key not in kind.options:
                raise UserError(
                    f"source {spec.name!r} ({kind.name}) has an unknown option {key!r}",
                    key_path=f"{base}.{key}",
                    hint=choices_hint(key, kind.options),
                )
    for group in kind.required:
        if not any(options.get(k) not in (None, "") for k in group):
            raise UserError(
                f"source {spec.name!r} ({kind.name}) needs {' or '.join(map(repr, group))}",
                key_path=f"{base}.{group[0]}",
                hint=f"add {group[0]}: ... under data.sources.{spec.name}",
            )
    return options


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: I/O hiccups and database connection failures."""
    if isinstance(exc, _PERMANENT_OS_ERRORS):
        return False
    if isinstance(exc, OSError):
        return True
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return False
    return isinstance(exc, OperationalError)


def with_retries(
    spec: Any, call: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep
) -> T:
    """``call()``, retrying transient errors with exponential backoff; a SourceError naming
    ``spec`` (an :class:`engine.specs.SourceSpec`) when it fails for good.

    Options ``retries`` (default 3) and ``retry_backoff`` (seconds, default 0.5, doubled each
    attempt) tune the loop. Reading and fingerprinting a source both go through it.
    """
    retries = int(spec.options.get("retries", DEFAULT_RETRIES))
    backoff = float(spec.options.get("retry_backoff", DEFAULT_BACKOFF_S))
    for attempt in range(retries + 1):
        try:
            return call()
        except UserError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise SourceError(spec.name, f"{type(exc).__name__}: {exc}") from exc
            if attempt == retries:
                msg = f"failed after {attempt + 1} attempts: {type(exc).__name__}: {exc}"
                raise SourceError(spec.name, msg) from exc
            sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def read_source(
    spec: Any,
    registry: SourceRegistry | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Read one source (an :class:`engine.specs.SourceSpec`), retrying transient errors
    (see :func:`with_retries`)."""
    registry = registry or default_sources()
    kind = registry.get(spec.kind, key_path=f"data.sources.{spec.name}.kind")
    options = reader_options(spec, kind)
    return _checked_frame(spec, kind, with_retries(spec, lambda: kind.read(options), sleep=sleep))


def fingerprint_with_retries(
    spec: Any,
    registry: SourceRegistry | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """The source's fingerprint (``fingerprint_source``) through the retry loop: an
    unreachable database is retried like a read, then one SourceError, never a traceback."""
    return with_retries(spec, lambda: fingerprint_source(spec, registry), sleep=sleep)


def read_source_fingerprinted(
    spec: Any,
    registry: SourceRegistry | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[pd.DataFrame, str]:
    """The source's frame and its fingerprint (the value ``fingerprint_source`` gives for
    the same data). A kind with ``read_fingerprinted`` (sql) reads once and fingerprints
    the rows it read; others are read, then fingerprinted. Both retried."""
    from engine.data.fingerprint import kind_fingerprint

    registry = registry or default_sources()
    kind = registry.get(spec.kind, key_path=f"data.sources.{spec.name}.kind")
    options = reader_options(spec, kind)
    one_pass = kind.read_fingerprinted
    if one_pass is None:
        frame = read_source(spec, registry, sleep=sleep)
        return frame, fingerprint_with_retries(spec, registry, sleep=sleep)
    frame, inner = with_retries(spec, lambda: one_pass(options), sleep=sleep)
    return _checked_frame(spec, kind, frame), kind_fingerprint(spec.kind, inner)


def _checked_frame(spec: Any, kind: SourceKind, frame: Any) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise SourceError(
            spec.name,
            f"reader for kind {kind.name!r} returned {type(frame).__name__}, expected a DataFrame",
        )
    return frame


def fingerprint_source(spec: Any, registry: SourceRegistry | None = None) -> str:
    """The fingerprint of one :class:`engine.specs.SourceSpec` via its kind's function.
    (Here, next to the registry, so that ``fingerprint`` never imports ``sources``.)"""
    registry = registry or default_sources()
    kind = registry.get(spec.kind, key_path=f"data.sources.{spec.name}.kind")
    options = {k: v for k, v in spec.options.items() if k not in RETRY_OPTIONS}
    fn = kind.fingerprint or fp.options_fingerprint
    return fp._sha(spec.kind, fn(options))
