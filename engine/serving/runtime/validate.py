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
    """What one endpoint takes: a record (``many`` False) or a list of 1..``max_records``
    records, with the record's JSON keys, and the pydantic type that validates the values
    (strict, as served). Picklable without the adapter: :meth:`screen` runs in a helper
    process for large bodies."""

    fields: tuple[str, ...]
    many: bool
    max_records: int = 10_000
    adapter: Any = None  # pydantic TypeAdapter; None: shape and keys only (unit tests)

    def check(self, body: bytes) -> None:
        """Raise :class:`Rejected` (bounded) when ``body`` is not what the endpoint takes."""
        self.screen(body)
        self.values(body)

    def screen(self, body: bytes) -> None:
        """JSON, shape, batch length and unknown keys. After it, a body holds at most
        ``max_records`` records of known keys, so the pydantic stage reports at most one
        error per field and record."""
        value = parse(body)
        if self.many and not isinstance(value, list):
            raise Rejected(
                "1 validation error",
                [{"loc": [], "msg": "Input should be a valid list", "type": "list_type"}],
            )
        records = value if self.many else [value]
        if self.many and not 1 <= len(records) <= self.max_records:
            kind, bound, word = (
                ("too_short", 1, "least") if not records else ("too_long", self.max_records, "most")
            )
            item = "item" if bound == 1 else "items"
            msg = f"List should have at {word} {bound} {item} after validation, not {len(records)}"
            raise Rejected("1 validation error", [{"loc": [], "msg": msg, "type": kind}])
        self._keys(records)

    def _keys(self, records: list[Any]) -> None:
        """Unknown keys (extra fields), counted in one pass, the first :data:`MAX_ERRORS`
        described. Missing keys are left to the pydantic stage, which names them with the
        other problems of the record (at most one error per field)."""
        allowed = frozenset(self.fields)
        detail: list[dict[str, Any]] = []
        total = 0
        for i, rec in enumerate(records):
            if not isinstance(rec, dict) or allowed.issuperset(rec):
                continue  # a non-object: the pydantic stage names it
            for key in rec:
                if key in allowed:
                    continue
                total += 1
                if len(detail) < MAX_ERRORS:
                    loc = [i, _short(key)] if self.many else [_short(key)]
                    msg = "Extra inputs are not permitted"
                    detail.append({"loc": loc, "msg": msg, "type": "extra_forbidden"})
        if total:
            raise Rejected(_count(total), detail, total)

    def values(self, body: bytes) -> None:
        """The strict pydantic types (JSON mode, as BentoML validates), errors capped."""
        if self.adapter is None:
            return
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
    fields: Collection[str], record: Any = None, records: Any = None, max_records: int = 10_000
) -> Mapping[str, BodySchema]:
    """The schemas of ``/predict`` (one ``record``) and ``/predict_batch`` (``records``)."""
    one = many = None
    if record is not None:
        from pydantic import TypeAdapter

        one, many = TypeAdapter(record), TypeAdapter(records)
    names = tuple(fields)
    return {
        "/predict": BodySchema(names, False, max_records, one),
        "/predict_batch": BodySchema(names, True, max_records, many),
    }


def screen(schema: BodySchema, body: bytes) -> dict[str, Any] | None:
    """:meth:`BodySchema.screen` as a plain function for a helper process: the refusal's
    answer, or None when the body passes."""
    try:
        schema.screen(body)
    except Rejected as exc:
        return exc.body()
    return None
