"""Whole-state backup and restore on real processes (issue 16): a real iris run, packaged and
promoted; `sous backup` while a second process keeps writing to the runs database; `sous
restore` into an empty home; `sous serve iris` from the restored home answers over HTTP, and
its restored cache is all hits (misses under another signing key). A backup with one flipped
byte is refused in one line and the home is not touched."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.slow

KEY = "backup-restore-test-key-" + "7" * 24
ROW = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}
WRITER = """
import os, sys
from pathlib import Path
from engine.store.runs import RunsDB, now_iso
db, stop, progress = RunsDB(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
i = 0
while not stop.exists():
    db.start({"run_id": f"w-{i:06d}", "recipe": "writer", "status": "ok",
              "started_at": now_iso(), "pad": "x" * 2000})
    i += 1
    tmp = progress.with_name("progress.tmp")
    tmp.write_text(str(i))
    os.replace(tmp, progress)  # readers never see a half-written number
"""


def env_for(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SOUS_DB_URL", None)
    env.update(
        {
            "SOUS_HOME": str(home),
            "SOUS_SIGNING_KEY": KEY,
            "SOUS_PII_SALT": "test-salt-not-secret",
            "BENTOML_DO_NOT_TRACK": "True",
        }
    )
    return env


def sous(
    home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        env={**env_for(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def progress(path: Path) -> int:
    text = path.read_text() if path.exists() else ""
    return int(text) if text.strip() else 0


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A home with a real iris run, packaged and promoted to production."""
    home = tmp_path_factory.mktemp("src") / "home"
    done = sous(home, "run", "iris", "cluster=sync", "deploy.promote=production")
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(sous(home, "runs", "last", "--json").stdout)
    assert record["status"] == "succeeded"
    yield {"home": home, "version": record["model_version"]}


@pytest.fixture
def writer(source: dict[str, object], tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A second process inserting run records into the source home's database until told
    to stop; yields its progress file and stop file."""
    home = source["home"]
    assert isinstance(home, Path)
    stop, prog = tmp_path / "stop", tmp_path / "progress"
    url = f"sqlite:///{home / 'runs.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(stop), str(prog)], env=env_for(home)
    )
    try:
        deadline = time.monotonic() + 60
        while progress(prog) < 20:
            assert proc.poll() is None, "the writer process died"
            assert time.monotonic() < deadline, "the writer never got going"
            time.sleep(0.05)
        yield prog, stop
    finally:
        stop.touch()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def serve_and_predict(home: Path, log: Path) -> dict[str, object]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "iris", "--port", str(port)],
            env=env_for(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"sous serve exited: {log.read_text()[-2000:]}")
            assert time.monotonic() < deadline, "the restored model never became ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        answer = httpx.post(f"{url}/predict", json=ROW, timeout=30)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())
    finally:
        stop_tree(proc)


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    tree = [proc.pid]
    with contextlib.suppress(psutil.NoSuchProcess):
        tree += [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    procs = []
    for pid in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _gone, alive = psutil.wait_procs(procs, timeout=30)
    for p in alive:
        p.kill()
    assert not alive, f"server processes left running: {[p.pid for p in alive]}"


def test_backup_during_writes_restores_and_serves(
    source: dict[str, object], writer: tuple[Path, Path], tmp_path: Path
) -> None:
    home, version = source["home"], source["version"]
    assert isinstance(home, Path)
    prog, _stop = writer
    before = progress(prog)
    done = sous(home, "backup", str(tmp_path / "backup"), "--with-cache")
    after = progress(prog)
    assert done.returncode == 0, done.stderr
    assert after > before, "the writer wrote nothing while the backup ran"

    new = tmp_path / "restored"
    done = sous(new, "restore", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(new / "runs.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        ids = [r[0] for r in db.execute("select run_id from runs where recipe='writer'")]
        assert db.execute("select count(*) from runs where recipe='iris'").fetchone() == (1,)
    finally:
        db.close()
    # a consistent snapshot: the writer's first n records, no gaps, n as of during the backup
    assert sorted(ids) == [f"w-{i:06d}" for i in range(len(ids))]
    assert before <= len(ids) <= after

    models = json.loads(sous(new, "models", "ls", "iris", "--json").stdout)
    production = [m for m in models if "production" in m["aliases"]]
    assert [m["version"] for m in production] == [version]

    body = serve_and_predict(new, tmp_path / "serve.log")
    assert body["model_version"] == version
    assert "prediction" in body

    # the restored cache: hits under the same signing key, misses under another
    plan = ["plan", "iris", "cluster=sync", "deploy.promote=production", "--json"]
    rows = json.loads(sous(new, *plan).stdout)
    assert rows and all(r["cached"] for r in rows)
    other = sous(new, *plan, env={"SOUS_SIGNING_KEY": "another-machine-key-" + "2" * 24})
    assert not any(r["cached"] for r in json.loads(other.stdout))
    assert "untrusted" in other.stderr


def test_a_backup_with_a_flipped_byte_is_refused_in_one_line(
    source: dict[str, object], tmp_path: Path
) -> None:
    home = source["home"]
    assert isinstance(home, Path)
    assert sous(home, "backup", str(tmp_path / "backup")).returncode == 0
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    victim = next(f for f in manifest["files"] if f["path"].endswith("estimator.pkl"))
    path = tmp_path / "backup" / victim["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    new = tmp_path / "restored"
    done = sous(new, "restore", str(tmp_path / "backup"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "is damaged" in done.stderr and victim["path"] in done.stderr
    assert "Traceback" not in done.stderr
    assert not new.exists()
