"""Bearer tokens and their scopes: ``predict`` (the prediction endpoints) and ``admin``
(routing changes, and ``/metrics`` when protected). An admin token may also predict.

Tokens come from environment variables named by the Bento, never from its files:
``deploy.auth_token_env`` (e.g. ``CHURN_TOKEN``) holds the predict token and
``<that name>_ADMIN`` (``CHURN_TOKEN_ADMIN``) the admin token; without
``auth_token_env`` the admin token is ``$SOUS_ADMIN_TOKEN``. Either variable may list
several tokens separated by commas, so a token can be rotated without downtime.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

PREDICT = "predict"
ADMIN = "admin"
DEFAULT_ADMIN_ENV = "SOUS_ADMIN_TOKEN"


def admin_env(token_env: str | None) -> str:
    """The variable holding the admin token(s) of a Bento whose predict token is in ``token_env``."""
    return f"{token_env}_ADMIN" if token_env else DEFAULT_ADMIN_ENV


def _tokens(value: str | None) -> tuple[bytes, ...]:
    return tuple(t.strip().encode() for t in (value or "").split(",") if t.strip())


@dataclass(frozen=True)
class Tokens:
    """The accepted tokens per scope; an empty predict set means prediction is open."""

    predict: tuple[bytes, ...]
    admin: tuple[bytes, ...]

    @classmethod
    def from_env(cls, token_env: str | None, env: Mapping[str, str] | None = None) -> Tokens:
        env = os.environ if env is None else env
        predict = _tokens(env.get(token_env)) if token_env else ()
        return cls(predict, _tokens(env.get(admin_env(token_env))))

    def scopes(self, header: str | None) -> frozenset[str]:
        """The scopes an ``Authorization`` header grants (empty: no valid token)."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return frozenset()
        given = token.strip().encode()
        if _match(given, self.admin):
            return frozenset({ADMIN, PREDICT})
        if _match(given, self.predict):
            return frozenset({PREDICT})
        return frozenset()


def _match(given: bytes, accepted: tuple[bytes, ...]) -> bool:
    """Constant-time comparison against every accepted token (no early exit on a match)."""
    found = False
    for token in accepted:
        found |= hmac.compare_digest(given, token)
    return found
