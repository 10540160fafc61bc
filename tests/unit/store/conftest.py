"""Store tests sign with a key of their own, never the user's ~/.config/sous/signing.key."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = "test-signing-key-" + "0" * 32
    monkeypatch.setenv("SOUS_SIGNING_KEY", key)
    return key
