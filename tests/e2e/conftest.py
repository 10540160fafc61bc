from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sous_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "sous-home"
    monkeypatch.setenv("SOUS_HOME", str(home))
    monkeypatch.setenv("SOUS_PII_SALT", "test-salt-not-secret")
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    return home
