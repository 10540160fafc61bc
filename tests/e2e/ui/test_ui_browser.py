"""The web UI driven in a real headless Chromium, on real runs: what a user checks on each
page, no console error anywhere, and a screenshot of every page (test artifacts)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    TOKEN,
    Home,
    Server,
    console_errors,
    screenshot,
    start_ui,
    stop,
    wait_for,
)
from selenium.webdriver.common.by import By

pytestmark = pytest.mark.slow


def css(driver: Any, selector: str) -> list[Any]:
    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def one(driver: Any, selector: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, selector)


def record(home: Home, run_id: str) -> dict[str, Any]:
    from engine.store.runs import RunsDB

    return RunsDB(f"sqlite:///{home.path / 'runs.db'}").get(run_id)


def test_runs_page_lists_filters_sorts_and_compares(
    browser: Any, server: Server, home: Home, shots: Path
) -> None:
    browser.get(f"{server.url}/runs")
    rows = [  # the live test adds a synthetic run dated 2099 (the home may be reused)
        r for r in css(browser, "table#runs tbody tr") if r.get_attribute("data-run") < "2099"
    ]
    assert {r.get_attribute("data-run") for r in rows} == {
        home.sweep_run,
        home.quarantine_run,
        *home.multirun_runs,
    }
    assert len(css(browser, "span.tag")) == 2  # the multirun's jobs are marked
    screenshot(browser, shots, "runs")

    # search narrows the table; the count says so
    box = one(browser, "input[name=q]")
    box.send_keys(home.quarantine_run[-6:])
    one(browser, "form#filters button[type=submit]").click()
    wait_for(lambda: one(browser, "#matched").text == "1", what="search to narrow to one run")
    assert one(browser, "table#runs tbody tr").get_attribute("data-run") == home.quarantine_run

    # a metric threshold nobody meets empties the table
    browser.get(f"{server.url}/runs?metric=f1&min=1.5")
    assert "No run matches" in one(browser, "p.empty").text

    # sort by score (best first), then by start time both ways: the order flips
    browser.get(f"{server.url}/runs")
    one(browser, "a.sort[href*='sort=score']").click()
    scores = [
        float(e.text.split()[-1])
        for e in css(browser, "table#runs tbody tr td.score")
        if e.text != "\u2013"  # the live test's synthetic run has no score
    ]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 4
    browser.get(f"{server.url}/runs?to=2098-12-31")  # newest first by default
    newest_first = [r.get_attribute("data-run") for r in css(browser, "table#runs tbody tr")]
    one(browser, "a.sort[href*='sort=started_at']").click()
    wait_for(lambda: "dir=asc" in browser.current_url, what="ascending order")
    oldest_first = [r.get_attribute("data-run") for r in css(browser, "table#runs tbody tr")]
    assert oldest_first == newest_first[::-1]
    assert len([i for i in oldest_first if i < "2099"]) == 4

    # compare: selecting two runs enables the button; the diff lists only differing keys
    assert not one(browser, "button#compare").is_enabled()
    for run_id in (home.sweep_run, home.quarantine_run):
        one(browser, f"input[value='{run_id}']").click()
    assert one(browser, "button#compare").is_enabled()
    one(browser, "button#compare").click()
    wait_for(lambda: "/compare" in browser.current_url, what="the compare page")
    keys = [e.text for e in css(browser, "#config-diff th.key")]
    assert "models.logreg.C" in keys and "sweep.strategy" in keys
    assert "target" not in keys and "models.rf.max_depth" not in keys  # same in both
    assert len(css(browser, "#boards canvas")) == 1  # leaderboards overlaid
    screenshot(browser, shots, "compare")


def test_run_page_shows_winner_leaderboard_plots_profile_and_timeline(
    browser: Any, server: Server, home: Home, shots: Path
) -> None:
    rec = record(home, home.sweep_run)
    browser.get(f"{server.url}/runs/{home.sweep_run}")
    assert one(browser, "#winner .big").text == rec["winner"]["model"]
    assert one(browser, "#status").text == "succeeded"
    assert one(browser, "th.selected").text == f"★ {rec['select_metric']}"
    rows = css(browser, "#leaderboard tbody tr")
    assert len(rows) == len(rec["leaderboard"]) and "winner" in rows[0].get_attribute("class")
    assert "±" in rows[0].text
    assert one(browser, "#gate").text == "passed"
    assert "smoke: not run" in one(browser, "#release").text  # deploy.smoke=false
    # the evaluation's curves are drawn by the page from data (uPlot canvases)
    wait_for(lambda: len(css(browser, "#curves canvas")) >= 3, what="ROC, PR, calibration")
    assert len(css(browser, "#confusion-matrix tr")) == 4  # header + 3 classes
    profile = rec["profile"]["columns"]
    assert len(css(browser, "#profile svg.hist")) == len(profile)
    ran = [s for s in rec["steps"] if not s["cached"]]
    assert len(css(browser, "svg.gantt rect.bar")) == len(ran)
    top = max(ran, key=lambda s: s["cpu_s"])["name"]
    assert one(browser, "#top-steps tbody tr").text.startswith(top)
    one(browser, "#config summary").click()
    assert "sweep:" in one(browser, "#config pre").text
    screenshot(browser, shots, "run")


def test_timeline_has_a_lane_per_dask_worker(
    browser: Any, server: Server, home: Home, shots: Path
) -> None:
    """A multirun job ran on the Dask launcher's cluster: its steps' lanes are named by the
    workers' addresses, each bar on the lane of the worker that computed it."""
    run_id = home.multirun_runs[0]
    ran = [s for s in record(home, run_id)["steps"] if not s["cached"]]
    workers = {s["worker"] for s in ran if s.get("worker") and s.get("started_s") is not None}
    assert any(w.startswith("tcp://") for w in workers), ran
    browser.get(f"{server.url}/runs/{run_id}")
    assert "one lane per Dask worker" in one(browser, "#lanes-by").text
    lanes = [g.get_attribute("data-lane") for g in css(browser, "svg.gantt g.lane")]
    assert workers <= set(lanes) and len(lanes) == len(set(lanes))
    for s in ran:
        if s.get("worker") and s.get("started_s") is not None:
            bar = one(browser, f'svg.gantt rect.bar[data-step="{s["name"]}"]')
            assert bar.get_attribute("data-worker") == s["worker"]
    screenshot(browser, shots, "timeline")


def test_run_page_shows_quarantine_counts_and_reasons(
    browser: Any, server: Server, home: Home
) -> None:
    browser.get(f"{server.url}/runs/{home.quarantine_run}")
    assert int(one(browser, "#quarantined").text) == 6  # sepal length > 7.5
    reasons = one(browser, "#quarantine-reasons").text
    assert "sepal length" in reasons and "6" in reasons


def test_sweep_page_plots_trials_history_and_best(
    browser: Any, server: Server, home: Home, shots: Path
) -> None:
    rec = record(home, home.sweep_run)
    browser.get(f"{server.url}/runs/{home.sweep_run}")
    one(browser, "#sweep-link").click()
    wait_for(lambda: "/sweep" in browser.current_url, what="the sweep page")
    n = len(rec["leaderboard"])
    assert len(css(browser, "svg.parallel path.trial")) == n
    assert len(css(browser, "#trials tbody tr")) == n
    assert {"C", "n_estimators", "max_depth"} <= {
        e.get_attribute("aria-label").split(" against ")[1] for e in css(browser, "svg.scatter")
    }
    wait_for(  # against trial number, and against time
        lambda: len(css(browser, "#history canvas")) == 2, what="the optimisation history"
    )
    best = rec["leaderboard"][0]
    assert one(browser, "#best").text.startswith(best["model"])
    screenshot(browser, shots, "sweep")


def test_multirun_sweep_is_the_group_of_runs(browser: Any, server: Server, home: Home) -> None:
    browser.get(f"{server.url}/runs/{home.multirun_runs[0]}/sweep")
    assert "Multirun" in one(browser, "h1").text
    assert len(css(browser, "#trials tbody tr")) == 2
    params = [e.text for e in css(browser, "#trials thead th")]
    assert "models.rf.n_estimators" in params


def test_plan_page_colours_cached_nodes_and_shows_a_node(
    browser: Any, server: Server, home: Home, shots: Path
) -> None:
    browser.get(f"{server.url}/plan?recipe=iris&overrides=sweep%3Dgrid+deploy.smoke%3Dfalse")
    nodes = css(browser, "svg.dag g.node")
    cached = [n for n in nodes if n.get_attribute("data-status") == "cached"]
    assert nodes and len(cached) == len(nodes)  # the sweep run computed all of it
    fit = next(n for n in nodes if "fit" in n.get_attribute("data-key"))
    fit.click()
    assert one(browser, "#node-details .node-key").text == fit.get_attribute("data-key")
    assert "inputs" in one(browser, "#node-details").text
    screenshot(browser, shots, "plan")
    # another override: the changed model's nodes are to run, the data nodes still cached
    browser.get(f"{server.url}/plan?recipe=iris&overrides=models.rf.n_estimators%3D77")
    status = {n.get_attribute("data-status") for n in css(browser, "svg.dag g.node")}
    assert status == {"cached", "to run"}
    dot = browser.find_element(By.LINK_TEXT, "dot").get_attribute("href")
    assert "format=dot" in dot


def test_models_page_promotes_with_the_token_and_records_history(
    browser: Any, server: Server, home: Home, shots: Path
) -> None:
    v1 = record(home, home.sweep_run)["model_version"]
    v2 = record(home, home.quarantine_run)["model_version"]
    browser.get(f"{server.url}/models")
    from engine.store import registry

    url = f"sqlite:///{home.path / 'runs.db'}"
    newest_first = [v.version for v in reversed(registry.versions("iris", url=url))]
    versions = [r.get_attribute("data-version") for r in css(browser, "table.versions tbody tr")]
    assert versions == newest_first and set(versions) == {v1, v2}
    if registry.get_alias("iris", "staging", url=url) == v1:  # the run packaged last is staged
        v1, v2 = v2, v1
    assert "staging" in one(browser, f"tr[data-version='{v2}'] .aliases").text

    def promote(version: str, token: str) -> None:
        form = one(browser, f"tr[data-version='{version}'] form.move")
        form.find_element(By.CSS_SELECTOR, "select[name=alias] option[value=staging]").click()
        form.find_element(By.CSS_SELECTOR, "input[name=token]").send_keys(token)
        form.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys("browser test")
        form.find_element(By.CSS_SELECTOR, "button").click()

    promote(v1, "wrong-token")
    assert "does not match" in wait_for(lambda: one(browser, "p.message").text, what="refusal")
    refused = console_errors(browser)  # the browser reports the 403 answer itself
    assert len(refused) == 1 and "403" in refused[0], refused
    browser.get(f"{server.url}/models")
    assert "staging" not in one(browser, f"tr[data-version='{v1}'] .aliases").text
    promote(v1, TOKEN)
    wait_for(lambda: css(browser, "#notice"), what="the promote notice")
    assert "staging" in one(browser, f"tr[data-version='{v1}'] .aliases").text
    assert "staging" not in one(browser, f"tr[data-version='{v2}'] .aliases").text
    history = one(browser, "table.history tbody tr").text  # newest first
    assert "promote" in history and v1 in history and v2 in history  # from v2 to v1
    assert "browser test (via sous ui)" in history  # the reason, with the actor
    screenshot(browser, shots, "models")


def test_models_page_without_a_token_is_read_only(browser: Any, home: Home) -> None:
    env = {k: v for k, v in home.env.items() if k != "SOUS_UI_TOKEN"}
    s = start_ui(env)
    try:
        browser.get(f"{s.url}/models")
        assert "SOUS_UI_TOKEN" in one(browser, "#read-only").text
        assert not css(browser, "form.move")
    finally:
        stop(s.proc)


def test_a_running_run_updates_live(
    browser: Any, server: Server, home: Home, tmp_path: Path
) -> None:
    from engine.store.runs import RunsDB, now_iso

    db = RunsDB(f"sqlite:///{home.path / 'runs.db'}")
    log = tmp_path / "run.log"
    log.write_text("07:00:00 run live-run: recipe iris\n")
    rec: dict[str, Any] = {
        "run_id": f"20990101-000000-{os.urandom(3).hex()}",
        "recipe": "iris",
        "status": "running",
        "started_at": now_iso(),
        "finished_at": None,
        "config": {},
        "leaderboard": [],
        "winner": None,
        "steps": [],
        "log": str(log),
        "error": None,
        "pid": os.getpid(),
        "host": socket.gethostname(),  # alive: this test process
    }
    db.start(rec)
    browser.get(f"{server.url}/runs/{rec['run_id']}")
    assert one(browser, "#status").text == "running"
    with log.open("a") as f:
        f.write("07:00:01 [1/9] done load:iris\n")
    wait_for(lambda: "done load:iris" in one(browser, "#live-log").text, what="the new step")
    db.finish({**rec, "status": "failed", "error": "stopped by the test", "finished_at": now_iso()})
    wait_for(lambda: css(browser, "#run-error"), what="the page to reload when the run ends")
    assert one(browser, "#status").text == "failed"


class _Clock:
    """``time`` as the request log sees it, at a chosen instant: rows logged in the past."""

    def __init__(self, at: float):
        import time

        self.at, self.monotonic, self.strftime = at, time.monotonic, time.strftime

    def time(self) -> float:
        return self.at


HOUR = 3600.0
SHIFT = "petal length (cm)"


@pytest.fixture(scope="module")
def traffic(home: Home) -> dict[str, Any]:
    """Six hours of logged iris traffic for the sweep run's version, the last two shifted
    (petal length + 3 cm, half the predictions wrong), every row labelled through feedback,
    and one ``sous monitor`` check in the history."""
    import subprocess
    import time

    from e2e_support import ROOT, sous_cmd
    from sklearn.datasets import load_iris

    from engine.drift.feedback import Feedback, FeedbackLog
    from engine.serving.runtime import reqlog

    version = record(home, home.sweep_run)["model_version"]
    served = home.path / "serving" / "iris"
    for old in (served / "requests", served / "feedback", home.path / "monitor" / "iris"):
        shutil.rmtree(old, ignore_errors=True)  # a reused home (SOUS_UI_TEST_HOME): anew
    frame = load_iris(as_frame=True).frame
    now = time.time()
    current = int(now // HOUR)
    labels = []
    with pytest.MonkeyPatch.context() as mp:
        for k, window in enumerate(range(current - 5, current + 1)):
            shifted = k >= 4
            at = (
                window * HOUR + (now - current * HOUR) / 2
                if window == current
                else window * HOUR + 60
            )
            mp.setattr(reqlog, "time", _Clock(at))
            log = reqlog.RequestLog(served / "requests", flush_rows=10_000)
            rows = frame.drop(columns="target").to_dict("records")
            preds = []
            for i, truth in enumerate(frame["target"]):
                rid = f"w{k}-{i}"
                wrong = shifted and i % 2 == 0
                preds.append({"prediction": (int(truth) + wrong) % 3, "request_id": rid})
                labels.append(Feedback(rid, int(truth)))
                if shifted:
                    rows[i][SHIFT] += 3.0
            log.write(rows, preds, endpoint="predict_batch", role="served", variant="champion",
                      version=version, latency_ms=1.5)  # fmt: skip
            log.flush()
    FeedbackLog(served / "feedback").write(labels)
    check = subprocess.run(
        sous_cmd("monitor", "iris", "--version", version, "--since", "2h"),
        env=home.env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert check.returncode == 3, check.stdout + check.stderr  # an alert holds
    return {"version": version}


def test_monitoring_page_shows_drift_over_time_live_metrics_and_alerts(
    browser: Any, server: Server, traffic: dict[str, Any], shots: Path
) -> None:
    version = traffic["version"]
    browser.get(f"{server.url}/monitoring")
    assert "yes" in one(browser, '#monitored tr[data-model="iris"]').text  # traffic logged
    one(browser, f'#monitored a[href="/monitoring/iris?version={version}"]').click()
    wait_for(lambda: one(browser, "#version").text == version, what="the version's page")
    one(browser, 'input[name="window"]').clear()
    one(browser, 'input[name="window"]').send_keys("1h")
    one(browser, 'input[name="windows"]').clear()
    one(browser, 'input[name="windows"]').send_keys("6")
    one(browser, "form.filters button").click()
    wait_for(lambda: "window=1h" in browser.current_url, what="the 1h windows")
    # one drift point per window and feature; the shifted feature drifts in the last two
    points = css(browser, f'#drift svg.lines circle[data-series="{SHIFT}"]')
    assert len(points) == 6
    assert len(css(browser, "#drift svg.lines line.reference")) == 1  # the PSI threshold
    assert "drifted" in one(browser, f'#features tr[data-feature="{SHIFT}"]').get_attribute("class")
    calm = one(browser, '#features tr[data-feature="sepal width (cm)"]')
    assert "drifted" not in (calm.get_attribute("class") or "")
    assert int(one(browser, "#rows-now").text) == 150
    # live accuracy (half wrong now) against the test metric, and per window
    acc = one(browser, '#metrics tr[data-metric="accuracy"]')
    assert float(acc.find_element(By.CSS_SELECTOR, "td.live").text) == pytest.approx(0.5, abs=0.01)
    assert "drifted" in acc.get_attribute("class")  # worse than test by more than allowed
    drops = css(browser, '#drops svg.lines circle[data-series="accuracy"]')
    assert len(drops) == 6  # every window is labelled
    assert len(css(browser, "#drops svg.lines line.reference")) == 1  # monitor.metric_drop
    # alerts now, and the sous monitor check in the history
    assert int(one(browser, "#alerts-now").text) >= 2
    history = one(browser, "#alert-history tbody tr").text
    assert version in history and SHIFT in history
    screenshot(browser, shots, "monitoring")
