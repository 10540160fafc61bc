"""The served type of a datetime feature: an ISO 8601 date-time string, parsed at the door.

The request record is strict (no coercion), so the parsing is declared here: the field's
JSON schema says ``{"type": "string", "format": "date-time"}``, a string that is not ISO
8601 is refused with 400, and the value reaches the model as a UTC datetime (a time without
an offset is taken as UTC, as the training data's naive times are).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator


def parse_iso(value: Any) -> Any:
    """An ISO 8601 string -> datetime; a datetime passes; anything else is refused."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time string, e.g. 2024-05-01T13:45:00Z")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        # the message never repeats the value: refusals and logs carry no request data
        raise ValueError("not an ISO 8601 date-time, e.g. 2024-05-01T13:45:00Z") from None


def to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


IsoDateTime = Annotated[datetime, BeforeValidator(parse_iso), AfterValidator(to_utc)]
