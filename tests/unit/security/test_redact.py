"""Issue 11, secrets: what :func:`engine.security.redact.redact_config` keeps and masks."""

from __future__ import annotations

from typing import Any

import pytest

from engine.security.redact import MASK, is_secret_key, redact_config, redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("postgresql://u:pw@h/db", "postgresql://u:***@h/db", id="postgres-password"),
        pytest.param(
            "postgresql+psycopg://sous:s3cr3t@db.example:5432/prod?sslmode=require",
            "postgresql+psycopg://sous:***@db.example:5432/prod?sslmode=require",
            id="driver-port-query",
        ),
        pytest.param("sqlite://u:pw@//tmp/x.db", "sqlite://u:***@//tmp/x.db", id="sqlite"),
        pytest.param("https://h/x?token=abc&a=1", "https://h/x?token=***&a=1", id="query-token"),
        pytest.param("postgresql://u@h/db", "postgresql://u@h/db", id="no-password"),
        pytest.param("sqlite:///tmp/x.db", "sqlite:///tmp/x.db", id="sqlite-path"),
        pytest.param("a: b @ c", "a: b @ c", id="not-a-url"),
    ],
)
def test_url_passwords(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        pytest.param("password", True, id="password"),
        pytest.param("db_password", True, id="db_password"),
        pytest.param("api_key", True, id="api_key"),
        pytest.param("apiKey", True, id="camel-case"),
        pytest.param("signing_key", True, id="x_key"),
        pytest.param("token", True, id="token"),
        pytest.param("salt", True, id="salt"),
        pytest.param("client-secret", True, id="client-secret"),
        pytest.param("pii_salt_env", False, id="names-an-env-var"),
        pytest.param("auth_token_env", False, id="names-an-env-var-2"),
        pytest.param("key", False, id="a-column-key"),
        pytest.param("keys", False, id="keys"),
        pytest.param("n_estimators", False, id="plain"),
        pytest.param("token_column", False, id="names-a-column"),
    ],
)
def test_secret_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_config_redaction() -> None:
    plain: dict[str, Any] = {
        "name": "x",
        "data": {
            "sources": {
                "db": {"kind": "sql", "url": "postgresql://u:pw@h/db", "query": "SELECT 1"},
                "api": {"kind": "http", "headers": {"api_key": "k-123", "accept": "json"}},
            },
            "pii_salt_env": "SOUS_PII_SALT",
        },
        "models": {"rf": {"n_estimators": 10, "secret": {"a": [1, "b"], "off": None}}},
        "deploy": {"auth": {"protect_metrics": True}},
    }
    out = redact_config(plain)
    assert out["data"]["sources"]["db"]["url"] == "postgresql://u:***@h/db"
    assert out["data"]["sources"]["api"]["headers"] == {"api_key": MASK, "accept": "json"}
    assert out["data"]["pii_salt_env"] == "SOUS_PII_SALT"
    assert out["models"]["rf"] == {"n_estimators": 10, "secret": {"a": [MASK, MASK], "off": None}}
    assert out["deploy"] == plain["deploy"]
    assert plain["data"]["sources"]["db"]["url"] == "postgresql://u:pw@h/db"  # not mutated


def test_values_from_the_environment_are_recorded_as_written() -> None:
    plain = {
        "a": "pepper-salt-value",
        "b": "prefix pepper-salt-value suffix",
        "c": "pepper-salt-value",
        "d": "postgresql://u:pw-from-env@h/db",
        "n": 4,
    }
    raw = {
        "a": "${oc.env:SOUS_PII_SALT}",
        "b": "prefix ${a} suffix",
        "c": "pepper-salt-value",  # written literally: not known to be the env value
        "d": "postgresql://u:${oc.env:PW}@h/db",
        "n": "${oc.env:N,4}",
    }
    assert redact_config(plain, raw) == {
        "a": "${oc.env:SOUS_PII_SALT}",
        "b": "prefix *** suffix",
        "c": "pepper-salt-value",
        "d": "postgresql://u:${oc.env:PW}@h/db",
        "n": "${oc.env:N,4}",
    }
