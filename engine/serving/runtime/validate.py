"""Request-body validation that costs little when it refuses.

A body is parsed once with :mod:`json`, checked for shape and unknown keys in plain Python
(stopping the report after a few), and only then validated by the service's pydantic record
types. A refusal lists the first :data:`MAX_ERRORS` problems (location, message, type: never
the rejected value) and the total count, so a body with 450,000 extra keys costs one parse and
a set lookup per key, and its answer is a few hundred bytes.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

MAX_ERRORS = 5
MAX_NAME_CHARS = 64  # an unknown key is echoed shortened (keys are names, values never are)


class Rejected(Exception):
    """A body the service refuses with 400; ``body`` is the bounded JSON answer."""

    def __init__(self, message: str, detail: list[dict[str, Any]] | None = None, total: int = 1):
        super().__init__(message)
        self.message = message
        self.detail = detail or []
        self.total = total

    def body(self) -> dict[str, Any]:
        """The answer: ``error`` and ``detail`` (strings, as the published OpenAPI schema
        says), ``errors`` (the first few, structured) and ``error_count`` (all of them)."""
        out: dict[str, Any] = {"error": self.message}
        if self.detail:
            out["detail"] = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in self.detail
            )
            out["errors"] = self.detail
            out["error_count"] = self.total
        return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed: send finite numbers only")


def parse(body: bytes) -> Any:
    """The JSON value of ``body``; :class:`Rejected` naming the problem otherwise."""
    if not body.strip():
        raise Rejected("empty body: send a JSON object (or a JSON list for /predict_batch)")
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise Rejected("body is not UTF-8 JSON") from None
    except RecursionError:
        raise Rejected("JSON nested too deeply") from None
    except ValueError as exc:
        raise Rejected(f"malformed JSON: {exc}") from None


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS] + "..."


@dataclass(frozen=True)
class BodySchema:
    """What one endpoint takes: a record (``many`` False) or a list of records, with the
    record's JSON keys, and the pydantic type that validates the values (strict, as served)."""

    fields: Collection[str]
    many: bool
    adapter: Any = None  # pydantic TypeAdapter; None: shape and keys only (unit tests)

    def check(self, body: bytes) -> None:
        """Raise :class:`Rejected` (bounded) when ``body`` is not what the endpoint takes."""
        value = parse(body)
        records = value if self.many and isinstance(value, list) else [value]
        if self.many and not isinstance(value, list):
            raise Rejected(
                "1 validation error",
                [{"loc": [], "msg": "Input should be a valid list", "type": "list_type"}],
            )
        self._unknown_keys(records)
        if self.adapter is not None:
            self._values(body)

    def _unknown_keys(self, records: list[Any]) -> None:
        allowed = frozenset(self.fields)
        detail: list[dict[str, Any]] = []
        total = 0
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                continue  # the type check below names it
            for key in rec:
                if key in allowed:
                    continue
                total += 1
                if len(detail) < MAX_ERRORS:
                    loc = [i, _short(key)] if self.many else [_short(key)]
                    detail.append(
                        {
                            "loc": loc,
                            "msg": "Extra inputs are not permitted",
                            "type": "extra_forbidden",
                        }
                    )
        if total:
            raise Rejected(_count(total), detail, total)

    def _values(self, body: bytes) -> None:
        from pydantic import ValidationError

        try:
            self.adapter.validate_json(body)
        except ValidationError as exc:
            total = exc.error_count()
            detail = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_context=False, include_input=False)[
                    :MAX_ERRORS
                ]
            ]
            raise Rejected(_count(total), detail, total) from None


def _count(total: int) -> str:
    s = "" if total == 1 else "s"
    more = f" (the first {MAX_ERRORS} are listed)" if total > MAX_ERRORS else ""
    return f"{total} validation error{s}{more}"


def schemas(
    fields: Collection[str], record: Any = None, records: Any = None
) -> Mapping[str, BodySchema]:
    """The schemas of ``/predict`` (one ``record``) and ``/predict_batch`` (``records``)."""
    one = many = None
    if record is not None:
        from pydantic import TypeAdapter

        one, many = TypeAdapter(record), TypeAdapter(records)
    return {
        "/predict": BodySchema(tuple(fields), False, one),
        "/predict_batch": BodySchema(tuple(fields), True, many),
    }
