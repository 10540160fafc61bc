"""The UI's data layer: run summaries, filters, sort, compare, profile, timeline, sweeps."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from ui_records import record

from engine.store.runs import RunsDB
from engine.ui import data


def summaries(*records: dict) -> list[data.RunSummary]:
    return [data.summarise(r) for r in records]


RUNS = summaries(
    record("r1", recipe="iris", model="rf", f1=0.91),
    record("r2", recipe="iris", model="logreg", f1=0.95, started="2026-11-02T10:00:00"),
    record("r3", recipe="churn", model="rf", f1=0.70, started="2026-11-03T10:00:00"),
    record("r4", recipe="churn", status="failed", started="2026-11-04T10:00:00"),
)


def ids(page: data.RunsPage) -> list[str]:
    return [r.run_id for r in page.rows]


def test_summary_reads_the_public_record() -> None:
    s = RUNS[0]
    assert (s.recipe, s.status, s.model, s.metric, s.score) == (
        "iris",
        "succeeded",
        "rf",
        "f1",
        0.91,
    )
    assert s.duration_s == 30.0 and s.cost == 0.001 and s.n_trials == 2
    failed = RUNS[3]
    assert failed.model is None and failed.score is None and "boom" in (failed.error or "")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(data.RunQuery(), ["r4", "r3", "r2", "r1"], id="newest-first"),
        pytest.param(data.RunQuery(recipe="iris"), ["r2", "r1"], id="recipe"),
        pytest.param(data.RunQuery(status="failed"), ["r4"], id="status"),
        pytest.param(data.RunQuery(model="rf"), ["r3", "r1"], id="model"),
        pytest.param(
            data.RunQuery(date_from="2026-11-02", date_to="2026-11-03"),
            ["r3", "r2"],
            id="date-range",
        ),
        pytest.param(data.RunQuery(metric="f1", metric_min=0.9), ["r2", "r1"], id="metric-min"),
        pytest.param(data.RunQuery(metric="f1", metric_max=0.9), ["r3"], id="metric-max"),
        pytest.param(data.RunQuery(search="BOOM"), ["r4"], id="search-error-text"),
        pytest.param(data.RunQuery(search="logreg"), ["r2"], id="search-model"),
        pytest.param(data.RunQuery(sort="score"), ["r2", "r1", "r3", "r4"], id="score-desc"),
        pytest.param(
            data.RunQuery(sort="score", desc=False),
            ["r3", "r1", "r2", "r4"],
            id="score-asc-missing-last",
        ),
        pytest.param(data.RunQuery(sort="recipe", desc=False, limit=2), ["r3", "r4"], id="limit"),
    ],
)
def test_filters_search_and_sort(query: data.RunQuery, expected: list[str]) -> None:
    assert ids(data.query_runs(RUNS, query)) == expected


def test_the_page_counts_and_offers_every_option() -> None:
    page = data.query_runs(RUNS, data.RunQuery(recipe="iris", limit=1))
    assert (page.total, page.matched, len(page.rows)) == (4, 2, 1)
    assert page.recipes == ("churn", "iris") and page.models == ("logreg", "rf")
    assert page.statuses == ("failed", "succeeded") and page.metrics == ("accuracy", "f1")


def test_the_index_parses_a_finished_run_once_and_follows_a_running_one(tmp_path: Path) -> None:
    db = RunsDB(f"sqlite:///{tmp_path / 'runs.db'}")
    alive = {"pid": os.getpid(), "host": socket.gethostname()}
    db.start(record("a1"))
    db.start(record("a2", status="running", finished=None, **alive))
    index = data.RunIndex(db.url)
    assert {s.run_id: s.status for s in index.summaries()} == {"a1": "succeeded", "a2": "running"}
    db.finish(record("a2", f1=0.5))
    db.start(record("a3", started="2026-11-05T00:00:00"))
    got = {s.run_id: (s.status, s.score) for s in index.summaries()}
    assert got == {"a1": ("succeeded", 0.9), "a2": ("succeeded", 0.5), "a3": ("succeeded", 0.9)}
    assert "a1" in index._done and "a2" in index._done


def test_a_running_run_whose_driver_is_gone_reads_interrupted(tmp_path: Path) -> None:
    db = RunsDB(f"sqlite:///{tmp_path / 'runs.db'}")
    gone = {"pid": 2**22 + 12345, "host": socket.gethostname()}
    db.start(record("x1", status="running", finished=None, **gone))
    [s] = data.RunIndex(db.url).summaries()
    assert s.status == "interrupted"


def test_compare_lists_only_the_keys_that_differ() -> None:
    a = record("c1", config={"seed": 7, "split": {"test_size": 0.2, "kind": "random"}, "x": [1]})
    b = record(
        "c2",
        config={"seed": 7, "split": {"test_size": 0.3, "kind": "random"}, "y": 1},
        f1=0.8,
        board=[0.8],
    )
    c = data.compare([a, b])
    assert dict(c.config_diff) == {
        "split.test_size": ("0.2", "0.3"),
        "x": ("[1]", "(absent)"),
        "y": ("(absent)", "1"),
    }
    assert dict(c.metrics)["f1"] == (0.9, 0.8)
    assert dict(c.test_metrics)["f1"] == pytest.approx((0.88, 0.78))
    assert c.boards == (("c1", (0.9, pytest.approx(0.8))), ("c2", (0.8,)))


def test_flatten_keeps_lists_and_empty_maps_as_leaves() -> None:
    assert data.flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}}) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "d": "{}",
    }


def test_run_view_marks_the_selected_metric_and_the_winner(tmp_path: Path) -> None:
    rec = record("v1", config={"models": {"rf": {"n_estimators": 10}}})
    rec["profile"] = {
        "rows": 10,
        "columns": {
            "age": {
                "dtype": "int64",
                "nulls": 1,
                "numeric": {"bin_edges": [0, 5, 10], "bin_counts": [4, 5]},
            },
            "plan": {
                "dtype": "str",
                "nulls": 0,
                "categorical": {"top": [["pro", 6], ["basic", 4]]},
            },
            "empty": {"dtype": "str", "nulls": 10},
        },
    }
    v = data.run_view(rec, None, tmp_path)
    assert v.metric_names[0] == "f1" and v.leaderboard[0].winner and not v.leaderboard[1].winner
    assert v.leaderboard[0].cells[0] == data.Cell(0.9, 0.01)
    assert "n_estimators: 10" in v.config_yaml
    age, plan = v.histograms
    assert age.edges == (0.0, 5.0, 10.0) and age.counts == (4, 5) and age.nulls == 1
    assert plan.labels == ("pro", "basic") and plan.counts == (6, 4)
    assert v.has_sweep and not v.has_evaluation


def test_quarantine_reasons_count_only_the_reasons(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "quarantine.parquet"
    table = pa.table(
        {
            "email": ["a@x.org", "b@x.org", "c@x.org"],  # a value the UI must never read
            "_failed_checks": [["age: ge 0"], ["age: ge 0"], ["plan: isin", "age: ge 0"]],
        }
    )
    pq.write_table(table, path)
    assert data.quarantine_reasons(str(path)) == (("age: ge 0", 2), ("plan: isin, age: ge 0", 1))
    assert data.quarantine_reasons(str(tmp_path / "missing.parquet")) == ()


def _entry(root: Path, key: str, end: float, *, packed: bool = False) -> None:
    """A cache entry committed at ``end``: a one-file entry, or a folder with its meta."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / key if packed else root / key / "meta.json"
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("{}")
    os.utime(marker, (end, end))


def test_timeline_puts_overlapping_steps_on_separate_lanes(tmp_path: Path) -> None:
    t = 1_700_000_000.0
    _entry(tmp_path, "a", t + 2)  # 0..2
    _entry(tmp_path, "b", t + 3, packed=True)  # 1..3: overlaps a
    _entry(tmp_path, "c", t + 5)  # 3..5: after both
    _entry(tmp_path, "d", t, packed=True)  # cached
    steps = [
        {"name": "a", "key": "a", "cached": False, "wall_s": 2.0, "cpu_s": 1.0, "peak_mem_mb": 9},
        {"name": "b", "key": "b", "cached": False, "wall_s": 2.0},
        {"name": "c", "key": "c", "cached": False, "wall_s": 2.0},
        {"name": "d", "key": "d", "cached": True, "wall_s": 0.0},
        {"name": "gone", "key": "gone", "cached": False, "wall_s": 1.0},  # no entry: skipped
    ]
    bars = {b.name: b for b in data.timeline(steps, tmp_path)}
    assert set(bars) == {"a", "b", "c", "d"}
    assert (bars["a"].lane, bars["b"].lane, bars["c"].lane, bars["d"].lane) == (0, 1, 0, -1)
    assert bars["a"].start_s == 0.0 and bars["b"].start_s == pytest.approx(1.0)
    assert bars["c"].start_s == pytest.approx(3.0) and bars["a"].peak_mem_mb == 9


def test_timeline_has_a_lane_per_worker_when_the_record_names_them(tmp_path: Path) -> None:
    w1, w2 = "tcp://127.0.0.1:40001", "tcp://127.0.0.1:40002"
    steps = [
        {"name": "load", "key": "l", "cached": True, "wall_s": 0.0, "worker": None, "started_s": None},
        {"name": "fit:b", "key": "b", "cached": False, "wall_s": 2.0, "worker": w2, "started_s": 0.5},
        {"name": "fit:a", "key": "a", "cached": False, "wall_s": 1.0, "worker": w1, "started_s": 0.4},
        {"name": "fit:c", "key": "c", "cached": False, "wall_s": 1.0, "worker": w1, "started_s": 1.6},
        {"name": "release", "key": "r", "cached": False, "wall_s": 0.2, "worker": "driver",
         "started_s": 3.0, "cpu_s": 0.1, "peak_mem_mb": 50.0},
    ]  # fmt: skip
    bars = {b.name: b for b in data.timeline(steps, tmp_path)}  # no cache entry needed
    assert {n: (b.lane, b.worker) for n, b in bars.items()} == {
        "load": (-1, None),  # from the cache: listed apart
        "fit:a": (0, w1),
        "fit:c": (0, w1),
        "fit:b": (1, w2),
        "release": (2, "driver"),  # the driver's own work after the workers
    }
    assert bars["fit:c"].start_s == 1.6 and bars["release"].peak_mem_mb == 50.0


def test_timeline_of_an_old_record_without_workers_falls_back_to_concurrency_lanes(
    tmp_path: Path,
) -> None:
    _entry(tmp_path, "a", 1_700_000_002.0)
    steps = [
        {"name": "a", "key": "a", "cached": False, "wall_s": 2.0},
        {"name": "b", "key": "b", "cached": False, "wall_s": 2.0, "worker": "tcp://x:1",
         "started_s": None},  # no start: not placed by worker (and no cache entry here)
    ]  # fmt: skip
    bars = data.timeline(steps, tmp_path)
    assert [(b.name, b.lane, b.worker) for b in bars] == [("a", 0, None)]


def test_a_step_the_record_does_not_place_gets_a_lane_of_its_own(tmp_path: Path) -> None:
    w = "tcp://127.0.0.1:1"
    steps = [
        {"name": "load", "key": "l", "cached": False, "wall_s": 1.0, "worker": None},
        {"name": "fit", "key": "f", "cached": False, "wall_s": 1.0, "worker": w, "started_s": 2.0},
    ]
    bars = {b.name: b for b in data.timeline(steps, tmp_path)}
    assert (bars["fit"].lane, bars["fit"].worker, bars["fit"].start_s) == (0, w, 2.0)
    assert (bars["load"].lane, bars["load"].worker) == (1, data.UNPLACED)


def test_a_multirun_is_a_sweep_over_the_keys_that_differ() -> None:
    runs = [
        record(
            "m2",
            f1=0.95,
            started="2026-11-01T10:00:02",
            finished="2026-11-01T10:00:32",
            config={"rf": {"n": 40}, "s": 1},
        ),
        record(
            "m1",
            f1=0.90,
            started="2026-11-01T10:00:01",
            finished="2026-11-01T10:00:31",
            config={"rf": {"n": 20}, "s": 1},
        ),
        record(
            "m3",
            f1=0.93,
            started="2026-11-01T10:00:03",
            finished="2026-11-01T10:00:33",
            config={"rf": {"n": 60}, "s": 1},
        ),
    ]
    sw = data.sweep_of_group(runs)
    assert sw.kind == "multirun" and sw.param_names == ("rf.n",)
    assert [t.run_id for t in sw.trials] == ["m1", "m2", "m3"]
    assert [t.params["rf.n"] for t in sw.trials] == [20, 40, 60]
    assert sw.best_so_far() == ((0, 0.90), (1, 0.95), (2, 0.95))
    assert sw.best() is not None and sw.best().run_id == "m2"  # type: ignore[union-attr]
    assert [t.finished_s for t in sw.trials] == [0.0, 1.0, 2.0]  # each ran 30 s


def test_lower_is_better_metrics_keep_the_minimum() -> None:
    trials = tuple(data.Trial(i, f"t{i}", "m", {"a": i}, v) for i, v in enumerate([3.0, 1.0, 2.0]))
    sw = data.SweepView("sweep", "log_loss", False, ("a",), trials)
    assert [b for _, b in sw.best_so_far()] == [3.0, 1.0, 1.0] and sw.best().value == 1.0  # type: ignore[union-attr]


def test_only_params_that_vary_within_a_model_are_axes() -> None:
    trials = [
        data.Trial(0, "a", "rf", {"n": 10, "jobs": 1}, 0.1),
        data.Trial(1, "b", "rf", {"n": 20, "jobs": 1}, 0.2),
        data.Trial(2, "c", "lr", {"C": 1.0, "max_iter": 5}, 0.3),
        data.Trial(3, "d", "lr", {"C": 2.0, "max_iter": 5}, 0.4),
    ]
    assert data._varied(trials) == ("C", "n")


def test_sweep_of_a_run_falls_back_to_the_leaderboard_and_marks_pruned(tmp_path: Path) -> None:
    pruned = [
        {"model": "rf", "trial": 5, "fold": 0, "score": 0.5, "params": {"n_estimators": 7}},
        {"model": "rf", "trial": 6},  # a record from before pruned trials kept their params
    ]
    rec = record("s1", board=[0.9, 0.8, 0.7], pruned=pruned)
    sw = data.sweep_of_run(rec, tmp_path)
    assert [t.value for t in sw.trials] == [0.9, 0.8, 0.7, None, None]
    assert sw.trials[-2].pruned and sw.trials[-2].label == "rf t5"
    assert sw.trials[-2].params == {"n_estimators": 7} and sw.trials[-1].params == {}
    assert sw.param_names == ("n_estimators",)
    # where each stopped and the score the search saw there, in the CLI's words
    assert (sw.trials[-2].stopped, sw.trials[-2].stopped_score) == ("pruned after fold 0", 0.5)
    assert (sw.trials[-1].stopped, sw.trials[-1].stopped_score) == ("pruned", None)


def test_a_halving_candidate_says_its_iteration_and_resources(tmp_path: Path) -> None:
    pruned = [
        {"model": "rf", "trial": 2, "iteration": 0, "n_resources": 9, "score": 0.7, "params": {}}
    ]
    rec = record("s2", board=[0.9], pruned=pruned)
    rec["config"] = {"sweep": {"halving": {"resource": "n_estimators"}}}
    sw = data.sweep_of_run(rec, tmp_path)
    assert sw.trials[-1].stopped == "halving iteration 0 (n_estimators=9)"
    assert sw.trials[-1].stopped_score == 0.7
    del rec["config"]  # rows by default
    assert data.sweep_of_run(rec, tmp_path).trials[-1].stopped == "halving iteration 0 (9 rows)"


def test_log_tail_reads_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert data.log_tail(str(log), 3) == ("line 97", "line 98", "line 99")
    assert data.log_tail(str(tmp_path / "nope"), 3) == () and data.log_tail(None) == ()


def test_views_are_json_ready() -> None:
    from dataclasses import asdict

    json.dumps(asdict(RUNS[0]))


def test_the_failed_step_of_the_latest_run_of_a_recipe() -> None:
    old = record("f1", status="failed", started="2026-11-01T00:00:00", failed_step="split")
    new = record("f2", status="failed", started="2026-11-02T00:00:00", failed_step="fit:rf:t0")
    other = record("f3", recipe="churn", started="2026-11-03T00:00:00")
    assert data.failed_steps([old, new, other], "iris") == ("fit:rf:t0",)
    assert data.failed_steps([old, new, record("f4", started="2026-11-05T00:00:00")], "iris") == ()
    assert data.failed_steps([record("f5", status="failed")], "iris") == ()  # not recorded
    assert data.failed_steps([], "iris") == ()


def test_recent_serves_the_newest_runs_before_the_index_is_whole(tmp_path: Path) -> None:
    db = RunsDB(f"sqlite:///{tmp_path / 'runs.db'}")
    for i in range(5):
        db.start(record(f"n{i}", started=f"2026-11-0{i + 1}T00:00:00"))
    index = data.RunIndex(db.url)
    rows, total = index.recent(2)
    assert [r.run_id for r in rows] == ["n4", "n3"] and total == 5 and not index.ready
    assert [s.run_id for s in index.summaries()] == ["n4", "n3", "n2", "n1", "n0"] and index.ready


def test_latest_record_of_each_recipe(tmp_path: Path) -> None:
    db = RunsDB(f"sqlite:///{tmp_path / 'runs.db'}")
    db.start(record("l1", started="2026-11-01T00:00:00", recipe_file="/old.yaml"))
    db.start(record("l2", started="2026-11-02T00:00:00", recipe_file="/new.yaml"))
    db.start(record("l3", recipe="churn", started="2026-11-01T00:00:00"))
    latest = data.latest_by_recipe(db)
    assert {k: v["run_id"] for k, v in latest.items()} == {"iris": "l2", "churn": "l3"}
    db.start(record("l4", started="2026-11-03T00:00:00"))  # records no recipe file
    assert data.recipe_files(db) == {"iris": "/new.yaml"}


def test_gates_smoke_and_cost_are_typed(tmp_path: Path) -> None:
    rec = record(
        "g1",
        gate={"passed": False, "failures": ["f1 0.7 < 0.8"], "production": None},
        smoke={"passed": True, "p99_ms": 12.0, "n": 30, "message": "30 rows"},
    )
    v = data.run_view(rec, None, tmp_path)
    assert v.gate == data.Outcome(False, ("f1 0.7 < 0.8",), "")
    assert v.smoke == data.Outcome(True, (), "30 rows")
    assert v.cost == data.Cost(1.0, 2.0, 0.001, "USD")
    bare = data.run_view(record("g2", status="running", cost=None), None, tmp_path)
    assert (bare.gate, bare.smoke, bare.cost) == (None, None, None)


@pytest.mark.parametrize("shared", [False, True], ids=["local-cache", "shared-store"])
def test_sweep_of_a_run_reads_the_store_runs_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    """The trials come from the cache runs use, local or a shared store ($SOUS_CACHE_URL),
    in the order their entries were committed."""
    from types import SimpleNamespace

    from engine.store.cache import ArtifactCache, EntryMeta
    from engine.ui.app import settings_from_env

    monkeypatch.setenv("SOUS_SIGNING_KEY", "ui-test-signing-key-" + "0" * 32)
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    root = f"file://{tmp_path / 'store'}" if shared else str(tmp_path / "home" / "cache")
    if shared:
        monkeypatch.setenv("SOUS_CACHE_URL", root)
    else:
        monkeypatch.delenv("SOUS_CACHE_URL", raising=False)
    assert str(settings_from_env().cache_root) == root
    cache = ArtifactCache(root)
    steps = []
    for number, (n, f1) in enumerate([(10, 0.7), (20, 0.9), (40, 0.8)]):
        key = f"trial-{number:04d}"
        trial = SimpleNamespace(model="rf", params={"n_estimators": n}, metrics={"f1": f1})
        cache.save(key, trial, EntryMeta(key, "trial", 0.1, 0.1, 1.0))
        steps.append({"name": f"trial:rf:t{number}", "key": key, "cached": False})
    rec = {"run_id": "r1", "select_metric": "f1", "steps": steps, "leaderboard": []}
    sw = data.sweep_of_run(rec, settings_from_env().cache_root)
    assert [t.params["n_estimators"] for t in sw.trials] == [10, 20, 40]
    assert [t.value for t in sw.trials] == [0.7, 0.9, 0.8]
    assert sw.best() is not None and sw.best().params == {"n_estimators": 20}  # type: ignore[union-attr]
