"""A rerun's report is the page an earlier run drew for the same inputs, with its own run id;
any change of what the page shows draws it again."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.report import LeaderRow, ReportContext, render_report
from engine.run import report_reuse
from engine.steps.train import Evaluation

DRAWN: list[str | None] = []


def counting_render(evaluation: Any, ctx: ReportContext) -> str:
    DRAWN.append(ctx.run_id)
    return render_report(evaluation, ctx)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    DRAWN.clear()
    return tmp_path / "home"


def _evaluation(f1: float = 0.8) -> Evaluation:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    proba = rng.dirichlet(np.ones(2), 100)
    return Evaluation(
        "classification",
        {"f1": f1},
        y,
        proba.argmax(axis=1),
        proba,
        (0, 1),
        {"0": 0.7, "1": 0.9},
        {"num__a": 0.5},
    )


def _ctx(run_id: str) -> ReportContext:
    row = LeaderRow("rf", 0.8, 0.01, 1, True, "n_estimators=10")
    return ReportContext("iris", run_id, "rf", None, "f1", (row,))


def test_a_rerun_reuses_the_page_with_its_own_run_id() -> None:
    first = report_reuse.rendered(_evaluation(), _ctx("20260101-000000-aaaaaa"), counting_render)
    second = report_reuse.rendered(_evaluation(), _ctx("20260102-000000-bbbbbb"), counting_render)
    assert len(DRAWN) == 1, "the second page is the kept one"
    assert second == render_report(_evaluation(), _ctx("20260102-000000-bbbbbb"))
    assert "20260101-000000-aaaaaa" in first and "20260101-000000-aaaaaa" not in second
    assert report_reuse.RUN_TOKEN not in second


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda ev, ctx: (_evaluation(f1=0.9), ctx), id="evaluation"),
        pytest.param(lambda ev, ctx: (ev, dataclasses.replace(ctx, model="lr")), id="header"),
        pytest.param(lambda ev, ctx: (ev, dataclasses.replace(ctx, leaderboard=())), id="board"),
    ],
)
def test_a_change_of_what_the_page_shows_draws_it_again(change: Any) -> None:
    report_reuse.rendered(_evaluation(), _ctx("r1"), counting_render)
    ev, ctx = change(_evaluation(), _ctx("r2"))
    page = report_reuse.rendered(ev, ctx, counting_render)
    assert len(DRAWN) == 2
    assert page == render_report(ev, ctx)


def test_a_page_not_sealed_by_sous_is_never_shown(home: Path) -> None:
    report_reuse.rendered(_evaluation(), _ctx("r1"), counting_render)
    (kept,) = (home / "reports").glob("*.html")
    kept.write_bytes(b"<html>planted</html>")
    page = report_reuse.rendered(_evaluation(), _ctx("r2"), counting_render)
    assert len(DRAWN) == 2 and "planted" not in page
