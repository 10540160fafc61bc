"""`sous runs cost` (issue 16): run records' cost summed by recipe, model and period, from
records written through the runs database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.costs import aggregate, parse_since, period
from engine.errors import UserError
from engine.store.db import forget
from engine.store.runs import RunsDB


def run(
    run_id: str,
    recipe: str,
    started: str,
    winner: str | None,
    fits: dict[str, float],
    cpu: float,
    estimate: float,
    currency: str = "USD",
    with_cost: bool = True,
) -> dict[str, Any]:
    models = list(dict.fromkeys([*([winner] if winner else []), *fits]))
    steps = [{"name": "load:iris", "key": "load-1", "cached": False, "cpu_s": 0.5}]
    for model, total in fits.items():  # two folds each
        steps += [
            {"name": f"fit:{model}:t0:f{k}", "key": f"fit-{model}{k}", "cpu_s": total / 2}
            for k in range(2)
        ]
    steps.append({"name": "refit", "key": "refit-1", "cpu_s": 0.25})
    return {
        "run_id": run_id,
        "recipe": recipe,
        "status": "ok" if with_cost else "running",
        "started_at": started,
        "leaderboard": [{"model": m, "params": {}, "metrics": {}} for m in models],
        "winner": {"model": winner} if winner else None,
        "steps": steps,
        **(
            {
                "cost": {
                    "cpu_s": cpu,
                    "wall_s": cpu * 2,
                    "gb_hours": cpu / 1000,
                    "estimate": estimate,
                    "currency": currency,
                }
            }
            if with_cost
            else {}
        ),
    }


RUNS = [
    run("a1", "iris", "2026-11-02T10:00:00+00:00", "rf", {"rf": 4.0, "logreg": 1.0}, 10.0, 0.10),
    run("a2", "iris", "2026-11-03T10:00:00+00:00", "logreg", {"rf": 2.0, "logreg": 1.0}, 6.0, 0.06),
    run("b1", "churn", "2026-11-10T09:00:00+00:00", "rf", {"rf": 8.0, "rf2": 3.0}, 20.0, 0.20),
    run("c1", "wine", "2026-10-30T23:30:00+00:00", "mlp", {"mlp": 5.0}, 7.0, 0.5, "EUR"),
    run("r1", "iris", "2026-11-29T08:00:00+00:00", None, {}, 0.0, 0.0, with_cost=False),
]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunsDB]:
    home = tmp_path / "home"
    monkeypatch.setenv("SOUS_HOME", str(home))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    url = f"sqlite:///{home / 'runs.db'}"
    runs = RunsDB(url)
    for r in RUNS:
        runs.start(r)
    yield runs
    forget(url)


def rows(report: Any) -> dict[tuple[str, str], Any]:
    return {(r.group, r.currency): r for r in report.rows}


def test_by_recipe_sums_each_recipe_and_skips_runs_without_cost(db: RunsDB) -> None:
    report = aggregate(db.list(limit=100), by="recipe")
    got = rows(report)
    assert set(got) == {("iris", "USD"), ("churn", "USD"), ("wine", "EUR")}
    iris = got[("iris", "USD")]
    assert (iris.runs, iris.cpu_s, iris.wall_s, iris.estimate) == (2, 16.0, 32.0, 0.16)
    assert iris.gb_hours == pytest.approx(0.016)
    assert report.skipped == 1
    totals = {t.currency: t for t in report.totals}
    assert totals["USD"].runs == 3 and totals["USD"].estimate == pytest.approx(0.36)
    assert totals["EUR"].estimate == 0.5  # never added to dollars
    assert report.rows[0].group == "wine"  # most expensive first


def test_by_model_charges_the_winner_and_counts_every_models_fit_cpu(db: RunsDB) -> None:
    got = rows(aggregate(db.list(limit=100), by="model"))
    rf = got[("rf", "USD")]
    assert (rf.runs, rf.won, rf.cpu_s, rf.estimate) == (3, 2, 30.0, pytest.approx(0.30))
    assert rf.fit_cpu_s == pytest.approx(14.0)  # 4 + 2 + 8; rf2's fits are not rf's
    logreg = got[("logreg", "USD")]
    assert (logreg.runs, logreg.won, logreg.cpu_s, logreg.fit_cpu_s) == (2, 1, 6.0, 2.0)
    rf2 = got[("rf2", "USD")]
    assert (rf2.won, rf2.cpu_s, rf2.fit_cpu_s) == (0, 0.0, 3.0)


@pytest.mark.parametrize(
    "by, expected",
    [
        pytest.param("day", ["2026-10-30", "2026-11-02", "2026-11-03", "2026-11-10"], id="day"),
        pytest.param("week", ["2026-W44", "2026-W45", "2026-W46"], id="week"),
        pytest.param("month", ["2026-10", "2026-11"], id="month"),
    ],
)
def test_by_period_in_time_order(db: RunsDB, by: str, expected: list[str]) -> None:
    report = aggregate(db.list(limit=100), by=by)
    assert [r.group for r in report.rows] == expected
    if by == "week":
        w45 = rows(report)[("2026-W45", "USD")]
        assert (w45.runs, w45.cpu_s) == (2, 16.0)


def test_since_drops_older_runs(db: RunsDB) -> None:
    report = aggregate(db.list(limit=100), since=parse_since("2026-11-03"))
    assert {r.group: r.runs for r in report.rows} == {"iris": 1, "churn": 1}
    assert report.since == "2026-11-03T00:00:00+00:00"


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("7d", datetime(2026, 11, 23, 12, tzinfo=UTC), id="days"),
        pytest.param("12h", datetime(2026, 11, 30, 0, tzinfo=UTC), id="hours"),
        pytest.param("2w", datetime(2026, 11, 16, 12, tzinfo=UTC), id="weeks"),
        pytest.param("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC), id="date"),
        pytest.param("2026-11-01T06:00+01:00", datetime(2026, 11, 1, 5, tzinfo=UTC), id="tz"),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, now=datetime(2026, 11, 30, 12, tzinfo=UTC)) == expected


def test_bad_since_and_grouping_are_user_errors() -> None:
    with pytest.raises(UserError, match="neither a date nor an age"):
        parse_since("last tuesday")
    with pytest.raises(UserError, match="not a grouping"):
        aggregate([], by="team")


def test_period_labels_are_utc() -> None:
    t = datetime.fromisoformat("2026-01-01T00:30:00+02:00")  # still 2025 in UTC
    assert (period(t, "day"), period(t, "week"), period(t, "month")) == (
        "2025-12-31",
        "2026-W01",
        "2025-12",
    )


def test_cli_runs_cost_json_and_table(db: RunsDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "cost", "--by", "model", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["by"] == "model" and out["skipped"] == 1
    mlp = next(r for r in out["rows"] if r["group"] == "mlp")
    assert (mlp["won"], mlp["fit_cpu_s"], mlp["currency"]) == (1, 5.0, "EUR")
    assert main(["runs", "cost", "--since", "2026-11-05"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["recipe", "runs"]
    assert table[1].split()[:2] == ["churn", "1"] and "0.200000 USD" in table[1]
    assert main(["runs", "ls", "--json"]) == 0  # the other actions still work
    assert len(json.loads(capsys.readouterr().out)) == len(RUNS)
    assert main(["runs", "cost", "--since", "soon"]) == 2


def test_fit_steps_are_named_after_their_model_in_a_real_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sous runs cost --by model` finds a model's fits by the `fit:<model>:` prefix of step
    names: if the plan ever names them otherwise, this fails instead of the fit CPU
    silently becoming 0."""
    from engine import api
    from engine.costs import _fit_cpu

    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    spec = api.validate("iris", ["cluster=sync"])
    plan, _ = api.plan(spec)
    models = tuple(m.name for m in spec.models)
    trial_fits = [n for n in plan.nodes.values() if n.kind == "fit" and n.step != "refit"]
    assert {m for m in models if any(n.step.startswith(f"fit:{m}:") for n in trial_fits)} == set(
        models
    )
    steps = [{"name": n.step, "cpu_s": 1.0} for n in plan.nodes.values()]
    found = _fit_cpu(steps, models)
    assert sum(found.values()) == len(trial_fits)
