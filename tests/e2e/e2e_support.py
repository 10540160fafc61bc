"""Paths and commands shared by the end-to-end tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))


def sous_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def env_with(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SOUS_HOME": str(home),
            "SOUS_PII_SALT": "test-salt-not-secret",
            "BENTOML_DO_NOT_TRACK": "True",
        }
    )
    env.update(extra)
    return env
