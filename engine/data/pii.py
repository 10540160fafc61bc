"""PII masking: ``hash`` (keyed, salted SHA-256), ``drop``, ``redact``.

Masking runs inside ``load``, before a frame can be persisted, so raw values never reach
the cache. The salt comes from an environment variable and is never logged, stored or put
into an error message; only the variable's name is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.errors import UserError, choices_hint

if TYPE_CHECKING:
    import pandas as pd

PII_ACTIONS = ("hash", "drop", "redact")
REDACTED = "[REDACTED]"


def check_pii(pii: Mapping[str, str]) -> None:
    """Raise a UserError for an unknown action, naming ``data.pii.<column>``."""
    for column, action in pii.items():
        if action not in PII_ACTIONS:
            raise UserError(
                f"unknown PII action {action!r} for column {column!r}",
                key_path=f"data.pii.{column}",
                hint=choices_hint(str(action), PII_ACTIONS),
            )


def salt_from_env(env_name: str) -> bytes:
    """The salt, read from ``$env_name``; a missing salt is the user's to fix."""
    salt = os.environ.get(env_name, "")
    if not salt:
        raise UserError(
            f"data.pii hashes a column but the salt variable ${env_name} is not set",
            key_path="data.pii",
            hint=f"export {env_name}=<a long random secret> (keep it out of the recipe and of git)",
        )
    return salt.encode()


def hash_value(value: object, salt: bytes) -> str:
    """HMAC-SHA256 of the value's text: stable for joins, useless without the salt."""
    return hmac.new(salt, str(value).encode(), hashlib.sha256).hexdigest()


def mask(frame: pd.DataFrame, pii: Mapping[str, str], *, salt_env: str) -> pd.DataFrame:
    """A copy of ``frame`` with every PII column present in it masked (nulls stay null)."""
    import pandas as pd

    check_pii(pii)
    present = {c: a for c, a in pii.items() if c in frame.columns}
    salt = salt_from_env(salt_env) if "hash" in pii.values() else b""
    if not present:
        return frame
    # pandas 3 is copy-on-write: drop/assign share the untouched columns (no deep copy).
    out = frame.drop(columns=[c for c, a in present.items() if a == "drop"])
    for column, action in present.items():
        if action == "drop":
            continue
        values = out[column].tolist()
        if action == "hash":
            masked = [None if pd.isna(v) else hash_value(v, salt) for v in values]
        else:
            masked = [None if pd.isna(v) else REDACTED for v in values]
        out[column] = pd.Series(masked, index=out.index, dtype="str")
    return out
