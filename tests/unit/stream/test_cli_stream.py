"""`sous stream` argument and recipe errors: exit 2, one message, no traceback."""

from __future__ import annotations

import pytest

from engine.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["stream", "status"], "needs a recipe", id="status-without-recipe"),
        pytest.param(["stream", "iris", "--workers", "0"], "--workers must be >= 1", id="workers"),
        pytest.param(["stream", "iris", "--until-idle", "-1"], "--until-idle", id="idle"),
        pytest.param(["stream", "iris"], "has no stream section", id="no-stream-section"),
    ],
)
def test_user_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
