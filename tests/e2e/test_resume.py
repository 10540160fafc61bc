"""A run killed with SIGKILL midway resumes without recomputing the steps that had finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from e2e_support import env_with, sous_cmd

from engine.store.cache import ArtifactCache

SWEEP = [
    "sweep=random",
    "sweep.trials=12",
    "+cv.kind=stratified_kfold",
    "+cv.folds=3",
    "deploy=none",
]


def finished_keys(home: Path) -> set[str]:
    return set(ArtifactCache(home / "cache").entries())


def test_sigkill_midway_then_rerun_resumes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        sous_cmd("run", "iris", *SWEEP),
        env=env_with(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: driver and Dask workers die together
    )
    try:
        deadline = time.monotonic() + 120
        while len([k for k in finished_keys(home) if k.startswith("fit.")]) < 6:
            assert proc.poll() is None, "the run finished before it could be killed; make it longer"
            assert time.monotonic() < deadline, "no fit step finished in time"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = finished_keys(home)
    assert not (home / "cache" / "select").exists()
    listed = subprocess.run(
        sous_cmd("runs", "ls", "--json"),
        env=env_with(home),
        capture_output=True,
        text=True,
        check=True,
    )
    assert [r["status"] for r in json.loads(listed.stdout)] == ["interrupted"]

    out = subprocess.run(
        sous_cmd("run", "iris", *SWEEP, "--json"),
        env=env_with(home),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    record = json.loads(out.stdout)
    assert record["status"] == "succeeded"
    steps = {s["key"]: s for s in record["steps"]}
    finished_before = before & set(steps)
    assert finished_before, "the killed run had finished steps"
    assert all(steps[k]["cached"] for k in finished_before)
    assert any(not s["cached"] for s in steps.values()), "the rerun had work left to do"
