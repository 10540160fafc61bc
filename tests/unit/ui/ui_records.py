"""Run records shaped like ``sous runs show ID --json``, for the UI's unit tests."""

from __future__ import annotations

from typing import Any


def record(
    run_id: str,
    *,
    recipe: str = "iris",
    status: str = "succeeded",
    started: str = "2026-11-01T10:00:00.000+00:00",
    finished: str | None = "2026-11-01T10:00:30.000+00:00",
    model: str = "rf",
    f1: float = 0.9,
    config: dict[str, Any] | None = None,
    board: list[float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    scores = board if board is not None else [f1, f1 - 0.1]
    leaderboard = [
        {
            "model": model if i == 0 else "logreg",
            "params": {"n_estimators": 10 * (i + 1)},
            "metrics": {"f1": s, "accuracy": s + 0.01},
            "metrics_std": {"f1": 0.01, "accuracy": 0.02},
            "folds": [],
        }
        for i, s in enumerate(scores)
    ]
    rec: dict[str, Any] = {
        "run_id": run_id,
        "recipe": recipe,
        "status": status,
        "started_at": started,
        "finished_at": finished,
        "config": config if config is not None else {"name": recipe, "seed": 7},
        "leaderboard": leaderboard if status == "succeeded" else [],
        "winner": leaderboard[0] if status == "succeeded" else None,
        "select_metric": "f1",
        "test_metrics": {"f1": f1 - 0.02} if status == "succeeded" else None,
        "bento": f"{recipe}:v{run_id[-2:]}" if status == "succeeded" else None,
        "steps": [],
        "cost": {"estimate": 0.001, "currency": "USD", "cpu_s": 1.0, "wall_s": 2.0},
        "error": None if status != "failed" else "step fit:rf:t0 failed: boom",
        "log": None,
    }
    rec.update(extra)
    return rec
