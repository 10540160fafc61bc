"""`sous run -m` with a bad sweep answers like any user error: exit 2, the override named,
no traceback, nothing run."""

from __future__ import annotations

import pytest

from engine.cli import main


@pytest.mark.parametrize(
    ("argv", "culprit"),
    [
        pytest.param(
            ["run", "iris", "-m", "models.rf.n_estimatorz=5,6"],
            "models.rf.n_estimatorz=5,6",
            id="unknown-key",
        ),
        pytest.param(
            ["run", "iris", "-m", "split=random,stratifed"],
            "split=random,stratifed",
            id="unknown-option",
        ),
    ],
)
def test_bad_sweep_is_a_user_error(
    argv: list[str], culprit: str, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert culprit in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
