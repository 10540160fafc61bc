"""The stored and printed form of a recipe's config: secrets replaced by ``***``.

The run record (``runs.db``, ``sous runs show``) keeps the resolved config so a run can be
understood and rebuilt later; it must not keep what the recipe only borrowed from the
environment or wrote inline by mistake. Three things are redacted, on plain data:

* the password of a URL (``postgresql://u:pw@h/db`` -> ``postgresql://u:***@h/db``) and
  secret-named query parameters (``?token=...``);
* values whose key names a secret (``password``, ``token``, ``secret``, ``salt``,
  ``api_key``, ``*_key``...; a key ending in ``_env``/``_name``/``_path`` names a variable
  or a column, not a secret, and a bare ``key`` is a column key in Sous's vocabulary);
* values that came from ``${oc.env:NAME}``: recorded as the interpolation text itself, and
  removed from any other interpolated value that copied them.

The running spec keeps the real values (a run needs them, and cache keys hash them); only
``RecipeSpec.resolved`` -- what records and reports read -- is redacted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

MASK = "***"
SECRET_WORDS = frozenset(
    {
        "password", "passwd", "pwd", "passphrase", "token", "secret", "salt", "credential",
        "credentials", "apikey", "api_key", "private_key", "access_key", "secret_key",
    }
)  # fmt: skip
NAMING_WORDS = frozenset({"env", "var", "name", "names", "file", "path", "column", "columns"})
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@/\s]*)@")
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pwd|token|access_token|secret|api_key|apikey|key|sig|"
    r"signature)=)(?P<value>[^&;#\s]*)",
    re.I,
)
_ENV = re.compile(r"\$\{(?:oc\.)?env:")
MIN_ENV_VALUE = 4  # shorter env values ("1", "cpu") are not searched for inside other strings


def is_secret_key(key: str) -> bool:
    """Whether a config key names a secret value (not the name of where a secret lives)."""
    words = [w for w in re.split(r"[^a-z0-9]+", key.lower()) if w]
    if not words or words[-1] in NAMING_WORDS:
        return False
    joined = "_".join(words)
    if joined in SECRET_WORDS or any(w in SECRET_WORDS for w in words):
        return True
    return len(words) > 1 and words[-1] == "key"


def redact_text(text: str) -> str:
    """URL passwords and secret query parameters of one string."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@" if _literal(m["pw"]) else m[0], text)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}" if _literal(m["value"]) else m[0], text)


def _literal(secret: str) -> bool:
    """A value written out (masked), not empty and not an interpolation such as
    ``${oc.env:PW}`` (kept: it names the variable, not the secret)."""
    return bool(secret) and not (secret.startswith("${") and secret.endswith("}"))


def redact_config(plain: Any, raw: Any = None) -> Any:
    """A redacted copy of ``plain`` (the resolved config). ``raw`` is the same config with
    interpolations unresolved (None when there were none): it tells which values came from
    the environment."""
    env_values = sorted(
        {str(v) for v in _env_values(plain, raw) if len(str(v)) >= MIN_ENV_VALUE},
        key=len,
        reverse=True,
    )
    return _redact(plain, raw, env_values, secret=False)


def contains_secrets(plain: Any, raw: Any = None) -> bool:
    """Whether :func:`redact_config` would change anything."""
    return redact_config(plain, raw) != plain


def _redact(value: Any, raw: Any, env_values: Sequence[str], *, secret: bool) -> Any:
    if isinstance(value, Mapping):
        raw_map = raw if isinstance(raw, Mapping) else {}
        return {
            k: _redact(v, raw_map.get(k), env_values, secret=secret or is_secret_key(str(k)))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        raw_list = raw if isinstance(raw, list | tuple) and len(raw) == len(value) else []
        return [
            _redact(v, raw_list[i] if raw_list else None, env_values, secret=secret)
            for i, v in enumerate(value)
        ]
    if isinstance(raw, str) and _ENV.search(raw):
        return redact_text(raw)  # the interpolation as written, never its value
    if secret and value is not None and not isinstance(value, bool):
        return MASK
    if isinstance(value, str):
        if isinstance(raw, str) and "${" in raw:  # interpolated: may have copied an env value
            for env_value in env_values:
                value = value.replace(env_value, MASK)
        return redact_text(value)
    return value


def _env_values(plain: Any, raw: Any) -> list[Any]:
    """Resolved values of every node whose raw form reads the environment."""
    if isinstance(raw, str) and _ENV.search(raw):
        return [plain] if plain is not None else []
    if isinstance(plain, Mapping) and isinstance(raw, Mapping):
        return [x for k, v in plain.items() for x in _env_values(v, raw.get(k))]
    if isinstance(plain, list | tuple) and isinstance(raw, list | tuple) and len(raw) == len(plain):
        return [x for v, r in zip(plain, raw, strict=True) for x in _env_values(v, r)]
    return []
