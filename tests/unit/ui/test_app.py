"""The UI's routes over a real runs database and registry (Starlette's test client)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from ui_records import record

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2 for its client; httpx works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from engine.store import registry
from engine.store.runs import RunsDB
from engine.ui.app import Settings, create_app

TOKEN = "unit-token"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    db = RunsDB(f"sqlite:///{tmp_path / 'runs.db'}")
    db.start(record("20261101-100000-aaaaaa", config={"seed": 1}))
    db.start(record("20261102-100000-bbbbbb", config={"seed": 2}, f1=0.7))
    for v in ("v1", "v2"):
        registry.record_version(
            "iris", v, model_tag=f"iris:{v}", bento_tag=None, metrics={"f1": 0.9}, labels={"run": v}
        )
    registry.promote("iris", "v1", "staging")
    return tmp_path


def client(home: Path, token: str | None) -> Iterator[TestClient]:
    app = create_app(Settings(f"sqlite:///{home / 'runs.db'}", home / "cache", token))
    with TestClient(app) as c:
        yield c


@pytest.fixture
def ui(home: Path) -> Iterator[TestClient]:
    yield from client(home, TOKEN)


@pytest.fixture
def read_only(home: Path) -> Iterator[TestClient]:
    yield from client(home, None)


def test_runs_page_and_json(ui: TestClient) -> None:
    page = ui.get("/runs")
    assert page.status_code == 200 and "20261101-100000-aaaaaa" in page.text
    got = ui.get("/api/runs", params={"metric": "f1", "min": "0.8"}).json()
    assert got["total"] == 2 and [r["run_id"] for r in got["runs"]] == ["20261101-100000-aaaaaa"]
    assert ui.get("/").url.path == "/runs"


def test_run_page_and_unknown_run(ui: TestClient) -> None:
    page = ui.get("/runs/20261101-100000-aaaaaa")
    assert page.status_code == 200 and "★ f1" in page.text
    assert ui.get("/runs/20261101").status_code == 200  # a prefix, like `sous runs show`
    missing = ui.get("/runs/nope")
    assert missing.status_code == 404 and "no run with id" in missing.text


def test_compare_needs_two_runs(ui: TestClient) -> None:
    assert ui.get("/compare", params={"id": "20261101-100000-aaaaaa"}).status_code == 400
    page = ui.get("/compare?id=20261101-100000-aaaaaa&id=20261102-100000-bbbbbb")
    assert page.status_code == 200 and ">seed<" in page.text


def test_live_answers_the_status_and_log(ui: TestClient, home: Path) -> None:
    got = ui.get("/api/runs/20261101-100000-aaaaaa/live").json()
    assert got["status"] == "succeeded" and got["log"] == []
    assert ui.get("/api/runs/20261101-100000-aaaaaa/evaluation").status_code == 404


def test_models_are_read_only_without_a_token(read_only: TestClient) -> None:
    page = read_only.get("/models")
    assert "SOUS_UI_TOKEN" in page.text and 'class="move"' not in page.text
    moved = read_only.post(
        "/models/iris/alias",
        data={"action": "promote", "version": "v2", "alias": "staging", "token": ""},
    )
    assert moved.status_code == 403
    assert registry.get_alias("iris", "staging") == "v1"


def test_promote_and_rollback_need_the_token(ui: TestClient) -> None:
    form = {"action": "promote", "version": "v2", "alias": "staging", "reason": "better"}
    assert ui.post("/models/iris/alias", data={**form, "token": "nope"}).status_code == 403
    assert registry.get_alias("iris", "staging") == "v1"
    moved = ui.post("/models/iris/alias", data={**form, "token": TOKEN}, follow_redirects=False)
    assert moved.status_code == 303 and registry.get_alias("iris", "staging") == "v2"
    last = registry.history("iris")[-1]
    assert (last.version, last.reason) == ("v2", "better (via sous ui)") and last.actor
    page = ui.get(moved.headers["location"])
    assert "staging -&gt; v2" in page.text and "better (via sous ui)" in page.text
    bad = ui.post("/models/iris/alias", data={**form, "version": "v9", "token": TOKEN})
    assert bad.status_code == 400 and "no version" in bad.text
    none = ui.post("/models/iris/alias", data={"action": "rollback", "token": TOKEN})
    assert none.status_code == 400 and "no production version" in none.text


def test_plan_only_for_recorded_recipes(ui: TestClient) -> None:
    page = ui.get("/plan", params={"recipe": "../../etc/passwd"})
    assert page.status_code == 404 and "no run of a recipe named" in page.text


def test_static_assets_are_served_locally(ui: TestClient) -> None:
    assert ui.get("/static/vendor/uPlot.iife.min.js").status_code == 200
    assert "cdn" not in ui.get("/runs").text.lower()
    assert ui.get("/monitoring").status_code == 200


def test_monitoring_lists_versions_and_says_why_one_cannot_be_monitored(ui: TestClient) -> None:
    assert 'href="/monitoring/iris"' in ui.get("/models").text  # linked from the model
    index = ui.get("/monitoring")
    assert index.status_code == 200
    assert 'href="/monitoring/iris?version=v1"' in index.text and "staging" in index.text
    assert "no (serve it with deploy.log_requests)" in index.text  # nothing logged yet
    page = ui.get("/monitoring/iris", params={"version": "v2", "window": "1h"})
    assert page.status_code == 200 and 'id="monitor-error"' in page.text
    assert "iris:v2" in page.text  # no packaged model, so no reference to compare with
    assert 'value="1h"' in page.text
    missing = ui.get("/monitoring/no-such-model")
    assert missing.status_code == 404 and "no-such-model" in missing.text


def test_the_runs_page_offers_more_rows_when_cut(home: Path, ui: TestClient) -> None:
    page = ui.get("/runs", params={"limit": "1", "sort": "score"})
    assert "showing the first 1" in page.text
    assert 'href="/runs?sort=score&amp;dir=desc&amp;limit=101" id="more"' in page.text


def test_every_answer_carries_a_strict_content_security_policy(ui: TestClient) -> None:
    csp = ui.get("/runs").headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert ui.get("/static/ui.css").headers["x-content-type-options"] == "nosniff"


def test_sous_ui_is_a_cli_command() -> None:
    from engine import cli, cli_ui

    args = cli.build_parser().parse_args(["ui", "--port", "9999"])
    assert (args.command, args.port, args.host) == ("ui", 9999, "127.0.0.1")
    assert cli.COMMANDS["ui"] is cli_ui.cmd_ui


def test_a_taken_port_is_a_user_error() -> None:
    import socket

    from engine.cli_ui import check_port
    from engine.errors import UserError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot serve the UI on 127.0.0.1:{port}") as err:
            check_port("127.0.0.1", port)
    assert err.value.exit_code == 2 and "--port" in str(err.value)


def test_compiled_templates_are_kept_for_the_next_start(home: Path) -> None:
    """A restarted UI loads its templates compiled (owner-only directory) instead of
    compiling them on its first page."""
    from engine.ui.app import _templates, settings_from_env

    compiled = settings_from_env().compiled
    assert compiled == home / "ui" / "templates"
    first = _templates(compiled).get_template("runs.html")
    kept = sorted(p.name for p in compiled.iterdir())
    assert len(kept) == 1 and (compiled.stat().st_mode & 0o777) == 0o700
    again = _templates(compiled)
    again.compile = None  # type: ignore[method-assign]  # compiling again would fail here
    assert again.get_template("runs.html").name == first.name


def test_the_sweep_page_says_where_each_pruned_trial_stopped(home: Path, ui: TestClient) -> None:
    pruned = [
        {"model": "rf", "trial": 4, "fold": 1, "score": 0.4321, "params": {"n_estimators": 40}},
        {"model": "rf", "trial": 5},  # a record from before pruned trials kept their score
    ]
    db = RunsDB(f"sqlite:///{home / 'runs.db'}")
    db.start(record("20261103-100000-cccccc", board=[0.9, 0.8], pruned=pruned))
    page = ui.get("/runs/20261103-100000-cccccc/sweep")
    assert page.status_code == 200
    assert '<span id="pruned-count">2</span> pruned' in page.text
    assert '<span class="stopped">pruned after fold 1: 0.4321</span>' in page.text
    assert '<span class="stopped">pruned</span>' in page.text
    assert "rf t4: pruned after fold 1 (0.4321)" in page.text  # the chart line's tooltip
