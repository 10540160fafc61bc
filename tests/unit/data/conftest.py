"""Fixtures for the data tests: an isolated $SOUS_HOME and a PII salt."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def sous_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "sous_home"
    monkeypatch.setenv("SOUS_HOME", str(home))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-do-not-use")
    return home
