"""A multirun prints the folder its jobs' outputs really went to: Sous's default under
$SOUS_HOME/multirun, or the user's hydra.sweep.dir; a section key swept without +."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from engine.multirun import multirun


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    return tmp_path


def _printed_dir(text: str) -> Path:
    found = re.search(r"outputs in (\S+)", text)
    assert found, text
    return Path(found[1])


def test_the_printed_folder_is_hydra_sweep_dir_and_holds_the_jobs(home: Path) -> None:
    out = io.StringIO()
    chosen = home / "my_sweeps"
    overrides = [
        "deploy=none",
        "model=logreg",
        "cluster=sync",
        "cv.folds=2,3",
        f"hydra.sweep.dir={chosen}",
    ]
    assert multirun("iris", overrides, stream=out) == 0, out.getvalue()
    printed = _printed_dir(out.getvalue())
    assert printed == chosen
    assert sorted(p.name for p in printed.iterdir() if p.is_dir()) == ["0", "1"]
    assert "cv.folds=2" in out.getvalue() and "cv.folds=3" in out.getvalue()
