"""Keep rejected request values out of the server's logs.

BentoML logs every refused request at ERROR with its traceback, and a pydantic
``ValidationError`` (or a 4xx exception carrying a model's message) prints the rejected values
in it. The guard refuses most bad bodies before BentoML sees them; this is the second line:
every log record in the served process whose exception is a client error keeps one line
(what was refused, how many errors) and loses the traceback and its values. Server errors
(5xx) keep their traceback: an operator needs it.
"""

from __future__ import annotations

import logging
from typing import Any

_installed = False


def client_error(exc: BaseException) -> str | None:
    """A one-line summary when ``exc`` is the client's fault (its text may hold input values)."""
    kind = type(exc)
    names = {c.__module__.split(".")[0] + "." + c.__name__ for c in kind.__mro__}
    if "pydantic_core.ValidationError" in names or "pydantic.ValidationError" in names:
        count = getattr(exc, "error_count", lambda: "?")()
        return f"request refused: {count} validation error(s) (values not logged)"
    code = getattr(getattr(exc, "error_code", None), "value", None)
    if isinstance(code, int) and code < 500:
        return f"request refused: {kind.__name__} (HTTP {code}; details not logged)"
    return None


def install() -> None:
    """Wrap the process's log-record factory once (covers every logger and handler)."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            summary = client_error(exc)
            if summary is not None:
                record.msg = f"{record.getMessage()}: {summary}"
                record.args = None
                record.exc_info = None
                record.exc_text = None
        return record

    logging.setLogRecordFactory(factory)
