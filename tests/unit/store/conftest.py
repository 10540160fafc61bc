"""Store tests sign with a key of their own, never the user's ~/.config/sous/signing.key."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = "test-signing-key-" + "0" * 32
    monkeypatch.setenv("SOUS_SIGNING_KEY", key)
    return key


@pytest.fixture(params=["packed", "directory"])
def layout(request: pytest.FixtureRequest) -> str:
    """Each of a cache entry's two layouts (engine/store/cache.py): a guarantee about
    entries holds for both. Use with ``entry_parts.in_layout``."""
    return str(request.param)
