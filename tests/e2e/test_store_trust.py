"""A cloned ``.sous`` cannot run code or feed altered data into ``sous run`` (issue 11):
entries signed under someone else's key are misses, quarantined, reported in one line each
and recomputed; local Dask workers sign and verify with the same per-user key."""

from __future__ import annotations

import json
import pickle
import subprocess
from pathlib import Path

from e2e_support import env_with, sous_cmd

from engine.store.cache import ArtifactCache, EntryMeta

ATTACKER_KEY = "attacker-own-key-" + "a" * 32
VICTIM_KEY = "victims-own-key-" + "b" * 32
RUN = ["run", "iris", "deploy=none", "--json"]


class Planted:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def sous(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sous_cmd(*args), env=env_with(home, **env), capture_output=True, text=True, timeout=600
    )


def test_planted_store_from_a_clone_runs_nothing_and_is_recomputed(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    home, marker = tmp_path / "sous", tmp_path / "pwned"
    first = sous(home, *RUN, "--executor", "sync", SOUS_SIGNING_KEY=ATTACKER_KEY)
    assert first.returncode == 0, first.stderr
    # the attacker replaces every value with a payload and signs it with their own key
    monkeypatch.setenv("SOUS_SIGNING_KEY", ATTACKER_KEY)
    cache = ArtifactCache(home / "cache")
    keys = cache.entries()
    for key in keys:
        meta = cache.meta(key)
        cache.remove(key)
        cache.save(key, Planted(marker), EntryMeta(key, meta.step, 0.0, 0.0, 0.0))
    (home / "validated").mkdir(exist_ok=True)
    for memo in (home / "validated").glob("*.pkl"):
        memo.write_bytes(pickle.dumps(Planted(marker)))

    victim = sous(home, *RUN, "--executor", "sync", SOUS_SIGNING_KEY=VICTIM_KEY)
    assert victim.returncode == 0, victim.stderr
    assert not marker.exists()
    record = json.loads(victim.stdout[victim.stdout.index("{") :])
    assert not any(s["cached"] for s in record["steps"])  # every entry recomputed
    reports = [line for line in victim.stderr.splitlines() if "is untrusted" in line]
    assert len(reports) == len(keys) and "Traceback" not in victim.stderr
    assert len(list((home / "cache" / ".quarantine").iterdir())) == len(keys)


def test_local_workers_share_the_default_key_file(tmp_path: Path) -> None:
    home, config = tmp_path / "sous", tmp_path / "config"
    env = {"XDG_CONFIG_HOME": str(config), "SOUS_SIGNING_KEY": ""}
    first = sous(home, *RUN, **env)
    assert first.returncode == 0, first.stderr
    assert (config / "sous" / "signing.key").stat().st_mode & 0o777 == 0o600
    again = sous(home, *RUN, **env)
    assert again.returncode == 0, again.stderr
    record = json.loads(again.stdout[again.stdout.index("{") :])
    assert all(s["cached"] for s in record["steps"])
    assert "untrusted" not in again.stderr
