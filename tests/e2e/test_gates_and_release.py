"""Gates decide what ships: a failing winner is recorded, not packaged, not promoted; a
passing one is packaged once, smoke-served and promoted; reruns reuse the Bento."""

from __future__ import annotations

import subprocess

from e2e_support import env_with, sous_cmd

from engine import api
from engine.store.registry import get_alias

SYNC = ["cluster=sync"]


def test_passing_winner_is_packaged_smoked_promoted_and_reused(sous_home) -> None:
    first = api.run(api.validate("iris", [*SYNC, "deploy.promote=production"]))
    assert first["gate"]["passed"] and first["bento"]
    assert first["smoke"]["passed"] and first["smoke"]["n"] > 0
    assert get_alias("iris", "production") == first["model_version"]
    second = api.run(api.validate("iris", [*SYNC, "deploy.promote=production"]))
    assert second["bento"] == first["bento"]
    assert all(s["cached"] for s in second["steps"])


def test_failing_gate_is_recorded_and_nothing_ships(sous_home) -> None:
    shipped = api.run(api.validate("iris", [*SYNC, "deploy.promote=production"]))
    production = get_alias("iris", "production")
    record = api.run(
        api.validate(
            "iris",
            [
                *SYNC,
                "deploy.promote=production",
                "models.rf.n_estimators=3",
                "+select.gates.accuracy='>= production + 0.5'",
            ],
        )
    )
    gate = record["gate"]
    assert not gate["passed"]
    assert gate["production"] == shipped["model_version"]
    assert any("accuracy" in f and "short by" in f for f in gate["failures"]), gate["failures"]
    assert record["bento"] is None and "promoted" not in record
    assert get_alias("iris", "production") == production


def test_cli_exit_code_on_failed_gate(tmp_path) -> None:
    out = subprocess.run(
        sous_cmd("run", "iris", "cluster=sync", "deploy=none", "select.gates.f1='>= 1.01'"),
        env=env_with(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stderr
    assert "gate failed: f1" in out.stderr and "Traceback" not in out.stderr


def test_failed_smoke_test_leaves_aliases_untouched(sous_home) -> None:
    shipped = api.run(api.validate("iris", [*SYNC, "deploy.promote=production"]))
    record = api.run(
        api.validate(
            "iris",
            [
                *SYNC,
                "deploy.promote=production",
                "models.rf.n_estimators=5",
                "+select.budget.predict_p99_ms=0.001",
            ],
        )
    )
    assert record["bento"] and record["smoke"]["passed"] is False
    assert "budget" in record["smoke"]["message"]
    assert "promoted" not in record
    assert get_alias("iris", "production") == shipped["model_version"]
