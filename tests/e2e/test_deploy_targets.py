"""Deploy targets from the recipe (`container`), and an A/B experiment from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from e2e_support import env_with, free_port, sous_cmd, wait_ready

from engine import api

SYNC = ["cluster=sync"]


def test_container_target_writes_dockerfile_and_archive(sous_home: Path) -> None:
    record = api.run(api.validate("iris", [*SYNC, "deploy.target=container"]))
    build = record["build"]
    dockerfile, archive = Path(build["dockerfile"]), Path(build["archive"])
    assert dockerfile.is_file() and "FROM" in dockerfile.read_text()
    assert archive.is_file() and archive.suffix == ".bento" and archive.stat().st_size > 0
    assert str(sous_home / "builds" / "iris" / record["model_version"]) in str(archive)


@pytest.mark.slow
def test_cli_ab_experiment_routes_sticky_by_key(sous_home: Path) -> None:
    v1 = api.run(api.validate("iris", [*SYNC, "deploy.promote=production"]))["model_version"]
    v2 = api.run(api.validate("iris", [*SYNC, "models.logreg.C=0.05", "models.rf.n_estimators=4"]))[
        "model_version"
    ]
    assert v1 != v2
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        sous_cmd("serve", "iris", "--challenger", v2, "--share", "0.5", "--port", str(port)),
        env=env_with(sous_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(url, proc)
        row = {
            "sepal length (cm)": 5.1,
            "sepal width (cm)": 3.5,
            "petal length (cm)": 1.4,
            "petal width (cm)": 0.2,
        }
        seen: dict[str, str] = {}
        for key in range(30):
            for _ in range(2):
                out = httpx.post(
                    f"{url}/predict", json=row, headers={"X-Sous-Key": f"user-{key}"}, timeout=30
                )
                assert out.status_code == 200, out.text
                body = out.json()
                assert seen.setdefault(str(key), body["variant"]) == body["variant"]
                assert body["model_version"] == (v1 if body["variant"] == "champion" else v2)
        assert set(seen.values()) == {"champion", "challenger"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_sous_serve_stops_its_server_on_sigterm(sous_home: Path) -> None:
    """`kill PID` of `sous serve` must not leave the BentoML server running."""
    import psutil

    api.run(api.validate("iris", SYNC))
    port = free_port()
    proc = subprocess.Popen(
        sous_cmd("serve", "iris", "--port", str(port)),
        env=env_with(sous_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(f"http://127.0.0.1:{port}", proc)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children
    proc.terminate()
    proc.wait(timeout=60)
    _gone, alive = psutil.wait_procs(children, timeout=30)
    for p in alive:
        p.kill()
    assert not alive, f"server processes left running: {[p.pid for p in alive]}"
