"""`sous run --profile` and Optuna studies in $SOUS_HOME, from one real run on a local Dask
cluster: Dask's performance report saved with the run and linked by `sous runs show`; the
optuna sweep's studies in `$SOUS_HOME/optuna/studies.db`, found by the real
`optuna-dashboard` (started from the line `sous env` prints) over its JSON API."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main

RUN = ["sweep=optuna", "sweep.trials=4", "deploy=none", "--executor", "local", "--profile"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """One `sous run iris --profile` with an optuna sweep, in a fresh home."""
    home = tmp_path_factory.mktemp("profiled") / "home"
    saved = {k: os.environ.get(k) for k in ("SOUS_HOME", "SOUS_DB_URL", "SOUS_PII_SALT")}
    os.environ["SOUS_HOME"] = str(home)
    os.environ.pop("SOUS_DB_URL", None)
    os.environ["SOUS_PII_SALT"] = "test-salt-not-secret"
    try:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["run", "iris", *RUN]) == 0
        from engine import api

        record = api.run_record(None)
        # the run's last lines say where the report is
        assert f"dask performance report: {record['performance_report']}" in printed.getvalue()
        yield home, record
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_the_performance_report_is_saved_with_the_run(profiled_run, capsys) -> None:
    home, record = profiled_run
    path = Path(record["performance_report"])
    assert path.parent == home.resolve() / "runs" / record["run_id"]
    html = path.read_text()
    assert "<title>Dask Performance Report</title>" in html
    assert "Task Stream" in html and "Worker Profile" in html  # Dask's tabs, not a stub
    assert path.stat().st_mode & 0o077 == 0  # owner-only, as the run's report
    capsys.readouterr()
    assert main(["runs", "show", record["run_id"]]) == 0
    assert f"dask performance report: {path}" in capsys.readouterr().out


def test_the_studies_are_in_the_home_named_by_run_and_model(profiled_run, capsys) -> None:
    import optuna

    home, record = profiled_run
    storage = f"sqlite:///{home.resolve() / 'optuna' / 'studies.db'}"
    assert record["optuna"]["storage"] == storage
    studies = record["optuna"]["studies"]
    assert studies == {m: f"iris/{m}/{record['run_id']}" for m in ("logreg", "rf")}
    for model, name in studies.items():
        study = optuna.load_study(study_name=name, storage=storage)
        assert len(study.trials) == 4  # sweep.trials: complete or pruned, all recorded
        assert study.user_attrs == {
            "recipe": "iris",
            "model": model,
            "run_id": record["run_id"],
            "seed": 7,
        }
    rf = optuna.load_study(study_name=studies["rf"], storage=storage)
    winner = record["winner"]
    if winner["model"] == "rf":  # the study's best is the leaderboard's best
        assert rf.best_value == pytest.approx(winner["metrics"]["f1"])
    assert (home / "optuna").stat().st_mode & 0o077 == 0
    capsys.readouterr()
    assert main(["runs", "show", record["run_id"]]) == 0
    out = capsys.readouterr().out
    assert f"optuna study (rf): {studies['rf']}" in out
    assert f"optuna-dashboard {storage}" in out


def test_optuna_dashboard_from_the_sous_env_line_finds_the_studies(profiled_run) -> None:
    home, record = profiled_run
    dashboard = Path(sys.executable).parent / "optuna-dashboard"
    if not dashboard.exists():
        pytest.skip("optuna-dashboard is not installed (pip install -e '.[dev]')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOUS_")}
    env.update(SOUS_HOME=str(home), PATH=f"{dashboard.parent}{os.pathsep}{env['PATH']}")
    printed = subprocess.run(
        [sys.executable, "-m", "engine", "env"], capture_output=True, text=True, env=env, check=True
    ).stdout
    line = next(x for x in printed.splitlines() if "optuna-dashboard " in x)
    command = line.lstrip("# ").strip()
    port = free_port()
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {command} --host 127.0.0.1 --port {port} --quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        found = _studies_over_http(f"http://127.0.0.1:{port}/api/studies", proc)
        assert set(record["optuna"]["studies"].values()) <= set(found)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def _studies_over_http(url: str, proc: subprocess.Popen[bytes]) -> list[str]:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            assert proc.stderr is not None
            raise AssertionError(f"optuna-dashboard exited: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
            return [s["study_name"] for s in body["study_summaries"]]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_profile_is_refused_where_there_is_no_dask_scheduler(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "h"))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    for how in (["--executor", "sync"], ["cluster=sync"]):
        assert main(["run", "iris", "--profile", "deploy=none", *how]) == 2
        err = capsys.readouterr().err
        assert "no Dask scheduler" in err and "--executor local" in err
    assert main(["run", "iris", "-m", "seed=1,2", "--profile"]) == 2
    assert "--profile and -m" in capsys.readouterr().err
    from engine import api

    assert api.runs() == []  # refused before any run started


def test_the_printed_dask_worker_line_joins_a_cluster_that_shares_the_home(
    tmp_path: Path,
) -> None:
    """`dask worker ...` as `sous env` prints it (the scheduler's address put in): started after
    `eval "$(sous env)"`, its worker processes see the same SOUS_HOME."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOUS_")}  # eval brings it
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    printed = subprocess.run(
        [sys.executable, "-m", "engine", "env"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout
    worker_line = next(x for x in printed.splitlines() if "dask worker " in x).lstrip("# ").strip()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    command = worker_line.replace("tcp://SCHEDULER:8786", address)
    script = (
        f"dask scheduler --host 127.0.0.1 --port {port} --no-dashboard &\n"
        f'eval "$({sys.executable} -m engine env)"\n'
        f"exec {command} --host 127.0.0.1 --no-dashboard\n"
    )
    proc = subprocess.Popen(
        ["bash", "-c", script],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        from distributed import Client

        client = _connect(Client, address, proc)
        with client:
            client.wait_for_workers(1, timeout=120)
            seen = client.run(lambda: os.environ.get("SOUS_HOME"))
        assert set(seen.values()) == {str(tmp_path / ".sous")}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _connect(client_class: Any, address: str, proc: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, "the scheduler or worker exited"
        try:
            return client_class(address, timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_env_lines_are_shell_comments_or_exports(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOUS_")}
    env["SOUS_HOME"] = str(tmp_path / "h")
    out = subprocess.run(
        [sys.executable, "-m", "engine", "env"], capture_output=True, text=True, env=env, check=True
    ).stdout
    for line in out.splitlines():
        assert line.startswith(("#", "export ")), line
        if line.startswith("export "):
            shlex.split(line)  # quoted as a shell reads it
