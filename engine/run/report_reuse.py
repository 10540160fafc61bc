"""The run's report, rendered once per content: a rerun whose report inputs are unchanged
reuses the page an earlier run rendered instead of drawing every chart again.

A run's report differs from an earlier run's only by its run id when the evaluation, the
header facts, leaderboard and profile and the renderer's code are the same (a fully cached
rerun). The page is kept with the run id left as a placeholder, under a key that hashes all
of those, in ``$SOUS_HOME/reports/``: sealed with an HMAC under the signing key (a page
planted there is never shown as one Sous drew) and encrypted when encryption at rest is on.
Anything that cannot be hashed or read back is rendered again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import html
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.report import ReportContext

SCHEME = b"sous-run-report-1"
# stands for the run id in a kept page (it survives html.escape unchanged)
RUN_TOKEN = "sous-run-id-3f9c1e7a5b2d"

Render = Callable[[Any, ReportContext], str]


def reports_dir() -> Path:
    from engine.home import sous_home

    return sous_home() / "reports"


def rendered(evaluation: Any, ctx: ReportContext, render: Render) -> str:
    """``render(evaluation, ctx)``, or the page kept for the same inputs with this run's id."""
    generic = replace(ctx, run_id=RUN_TOKEN) if ctx.run_id else ctx
    key = reuse_key(evaluation, generic, render)
    text = _recall(key) if key else None
    if text is None:
        text = render(evaluation, generic)
        if key:
            _remember(key, text)
    return text.replace(RUN_TOKEN, html.escape(ctx.run_id)) if ctx.run_id else text


def reuse_key(evaluation: Any, ctx: ReportContext, render: Render) -> str | None:
    """A hash of everything the page shows and of the code that draws it; None when the
    evaluation holds something it cannot hash (then it is always rendered)."""
    from engine.provenance import code_fingerprint

    h = hashlib.sha256(SCHEME)
    h.update(sys.version.encode())
    h.update(code_fingerprint(render).encode())
    try:
        _digest((evaluation, ctx), h)
    except _Unhashable:
        return None
    return h.hexdigest()[:32]


class _Unhashable(Exception):
    pass


def _digest(obj: Any, h: Any) -> None:
    """Feed ``obj``'s content to ``h``: the same for equal content however it was made (a
    fresh evaluation and one read back from the cache hash alike, which pickles do not)."""
    import numpy as np

    h.update(type(obj).__qualname__.encode() + b"(")
    if obj is None or isinstance(obj, bool | int | float | str | bytes | np.generic):
        h.update(repr(obj).encode())
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            _digest(obj.tolist(), h)
        else:
            h.update(f"{obj.dtype.str}{obj.shape}".encode())
            h.update(np.ascontiguousarray(obj).tobytes())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            h.update(f.name.encode())
            _digest(getattr(obj, f.name), h)
    elif isinstance(obj, Mapping):
        for k, v in obj.items():  # in order: the page shows them in this order
            _digest(k, h)
            _digest(v, h)
    elif isinstance(obj, tuple | list):
        for item in obj:
            _digest(item, h)
    else:
        raise _Unhashable(type(obj).__qualname__)
    h.update(b")")


def _path(key: str) -> Path:
    return reports_dir() / f"{key}.html"


def _recall(key: str) -> str | None:
    from engine.security import at_rest
    from engine.store.signing import unseal

    try:
        payload = unseal(_path(key).read_bytes())
        return None if payload is None else at_rest.unseal(payload).decode("utf-8")
    except Exception:  # absent, foreign, damaged, or sealed under a key we do not hold
        return None


def _remember(key: str, text: str) -> None:
    """Best effort: a page that cannot be kept is drawn again next time."""
    from engine.home import private_dir
    from engine.security import at_rest
    from engine.store.signing import seal

    with contextlib.suppress(OSError):
        private_dir(reports_dir())
        at_rest.write_atomic(_path(key), seal(at_rest.seal(text.encode("utf-8"))))
