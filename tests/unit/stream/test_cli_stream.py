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


def test_summary_prints_batch_timing_and_fenced_events(
    capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch
) -> None:
    from pathlib import Path

    import engine.stream.runner as runner
    from engine.stream.clock import BatchFigures, StageFigure
    from engine.stream.consumer import ConsumerSummary

    timing = BatchFigures(
        batches=4, mean_events=50.0, total_p50_ms=12.5, total_p99_ms=30.0,
        stages=(StageFigure("score", 6.0, 5.0, 9.0), StageFigure("checkpoint", 4.0, 4.0, 8.0)),
    )  # fmt: skip
    summary = ConsumerSummary("c0", 4, 200, 197, 3, 0, ("v1",), fenced=7, timing=timing)
    monkeypatch.setattr(runner, "run_stream", lambda ctx, **kw: [summary])
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    recipe = Path(__file__).resolve().parents[3] / "recipes" / "card_stream.yaml"
    assert main(["stream", str(recipe), "--until-idle", "1"]) == 0
    out = capsys.readouterr().out
    assert "c0: 200 events in 4 batches, 197 scored, 3 dead-lettered" in out
    assert "batches of 50 events: p50 12.5 ms, p99 30 ms (most: score, 6 ms)" in out
    assert "7 events left to the consumer that claimed them (fenced)" in out
