"""The report a run points to names the run and its model version (issue 15)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import api


def test_the_runs_report_has_its_header_leaderboard_and_profile(sous_home: Path) -> None:
    overrides = ["cluster=sync", "deploy.smoke=false", "models.rf.n_estimators=5"]
    record = api.run(api.validate("iris", overrides))
    path = Path(record["report"])
    assert path == sous_home / "runs" / record["run_id"] / "report.html"
    page = path.read_text(encoding="utf-8")
    head = page[: page.index("<h2>")]
    assert "iris" in head and record["run_id"] in head
    assert record["winner"]["model"] in head
    assert f"v{record['model_version']}" in head
    table = re.search(r'<table class="leaderboard">.*?</table>', page, re.S).group(0)
    assert '<tr class="winner">' in table
    assert "sepal length (cm)" in re.search(r'<table class="profile">.*?</table>', page).group(0)


def test_the_runs_report_is_sealed_when_encryption_is_on(
    sous_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.security import at_rest

    monkeypatch.setenv("SOUS_ENCRYPTION_KEY", at_rest.keygen())
    overrides = ["cluster=sync", "deploy.enabled=false", "models.rf.n_estimators=5"]
    record = api.run(api.validate("iris", overrides))
    sealed = Path(record["report"]).read_bytes()
    assert at_rest.is_sealed(sealed) and b"sepal" not in sealed
    assert b"sepal length (cm)" in at_rest.read_sealed(record["report"])
