from __future__ import annotations

import pytest


@pytest.fixture
def sous_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
