"""``sous cache verify|du|gc``: on a real cache and runs database in a temp $SOUS_HOME."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from entry_parts import EntryPart

from engine.cli import main
from engine.store import maintenance
from engine.store.cache import ArtifactCache, EntryMeta, commit_marker
from engine.store.runs import RunsDB


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def put(cache: ArtifactCache, key: str, age_days: float = 0.0) -> None:
    """An entry aged ``age_days``; in a local cache fits packed, the others directories
    (both layouts); a shared store's are all directories."""
    if type(cache) is ArtifactCache:
        cache.packs = key.startswith("fit")
    cache.save(key, "x" * 1000, EntryMeta(key, key.rsplit("-", 1)[0], 1.0, 1.0, 1.0))
    if age_days:
        t = time.time() - age_days * 86400
        os.utime(commit_marker(cache.path(key)), (t, t))  # type: ignore[arg-type]


def run(home: Path, run_id: str, keys: list[str], days_ago: float) -> None:
    from datetime import UTC, datetime, timedelta

    started = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    RunsDB(f"sqlite:///{home / 'runs.db'}").start(
        {
            "run_id": run_id,
            "recipe": "iris",
            "status": "ok",
            "started_at": started,
            "steps": [{"name": k.split("-")[0], "key": k} for k in keys],
        }
    )


@pytest.fixture
def filled(home: Path) -> ArtifactCache:
    """Four entries: a (old run), b (recent run), c (both runs), d (no run, old file)."""
    cache = ArtifactCache(home / "cache")
    for key, age in (("load-a", 60), ("fit-b", 1), ("split-c", 60), ("fit-d", 90)):
        put(cache, key, age)
    run(home, "r-old", ["load-a", "split-c"], days_ago=60)
    run(home, "r-new", ["fit-b", "split-c"], days_ago=1)
    return cache


def remaining(cache: ArtifactCache) -> list[str]:
    return cache.entries()


def test_gc_dry_run_removes_nothing(
    filled: ArtifactCache, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "gc", "--older-than", "30d", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(r["key"] for r in out["removed"]) == ["fit-d", "load-a"]
    assert out["dry_run"] and out["bytes"] > 0
    assert remaining(filled) == ["fit-b", "fit-d", "load-a", "split-c"]


@pytest.mark.parametrize(
    ("flags", "left"),
    [
        pytest.param(["--older-than", "30d"], ["fit-b", "split-c"], id="by-age"),
        pytest.param(["--keep-runs", "1"], ["fit-b", "split-c"], id="keep-runs-1"),
        pytest.param(["--keep-runs", "2"], ["fit-b", "load-a", "split-c"], id="keep-runs-2"),
        pytest.param(["--orphans"], ["fit-b", "load-a", "split-c"], id="orphans"),
        pytest.param(["--older-than", "100d"], ["fit-b", "fit-d", "load-a", "split-c"], id="none"),
    ],
)
def test_gc(filled: ArtifactCache, flags: list[str], left: list[str]) -> None:
    assert main(["cache", "gc", *flags]) == 0
    assert remaining(filled) == left


def test_gc_needs_a_criterion_and_a_valid_age(
    filled: ArtifactCache, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "gc"]) == 2
    assert main(["cache", "gc", "--older-than", "soon"]) == 2
    assert "30d" in capsys.readouterr().err


def test_gc_takes_old_quarantine_and_crash_leftovers(filled: ArtifactCache) -> None:
    EntryPart(filled, "fit-b", "meta.json").write(b"{")
    assert not filled.has("fit-b")  # quarantined now
    leftover = filled.root / ".load-z.tmp123"
    leftover.mkdir()
    old = time.time() - 2 * 86400
    for p in (leftover, *filled.quarantine_dir().iterdir()):
        os.utime(p, (old, old))
    assert main(["cache", "gc", "--older-than", "1d"]) == 0
    assert not leftover.exists() and not list(filled.quarantine_dir().iterdir())


def test_du(filled: ArtifactCache, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "du", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["entries"] == 4
    assert set(out["by_step"]) == {"load", "fit", "split"}
    assert out["by_step"]["fit"]["entries"] == 2
    assert out["total_bytes"] == maintenance.usage(filled).total_bytes > 4000
    assert main(["cache", "du"]) == 0
    assert "total in" in capsys.readouterr().out


def test_verify_finds_and_quarantines_a_damaged_entry(
    filled: ArtifactCache, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "verify"]) == 0
    assert "4 entries checked, 0 failed" in capsys.readouterr().out
    value = EntryPart(filled, "split-c", "value.pkl")
    data = bytearray(value.read())
    data[-5] ^= 1
    value.write(bytes(data))
    assert main(["cache", "verify", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["checked"] == 4 and [f["key"] for f in out["failed"]] == ["split-c"]
    assert remaining(filled) == ["fit-b", "fit-d", "load-a"]


def test_parse_age() -> None:
    assert maintenance.parse_age("30d") == 30 * 86400
    assert maintenance.parse_age("12h") == 12 * 3600
    assert maintenance.parse_age("1.5w") == 1.5 * 604800


@pytest.fixture
def shared(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ArtifactCache:
    """A shared store ($SOUS_CACHE_URL, file://) with three entries; the local cache empty."""
    monkeypatch.setenv("SOUS_CACHE_URL", f"file://{tmp_path / 'team-store'}")
    store = ArtifactCache(f"file://{tmp_path / 'team-store'}")
    for key in ("load-a", "fit-b", "fit-c"):
        put(store, key)
    return store


def test_verify_and_du_work_on_the_shared_store_runs_use(
    shared: ArtifactCache, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "du", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["entries"] == 3 and out["by_step"]["fit"]["entries"] == 2
    assert out["total_bytes"] > 3000
    value = tmp_path / "team-store" / "fit-c" / "value.pkl"  # a store's entries are folders
    data = bytearray(value.read_bytes())
    data[-5] ^= 1
    value.write_bytes(bytes(data))
    assert main(["cache", "verify"]) == 1
    text = capsys.readouterr().out
    assert "QUARANTINED  fit-c" in text and "3 entries checked, 1 failed" in text
    assert f"file://{tmp_path / 'team-store'}/.quarantine" in text
    assert sorted(shared.entries()) == ["fit-b", "load-a"]
    assert main(["cache", "du", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["entries"] == 2 and out["quarantine_bytes"] > 1000


def test_gc_refuses_a_shared_store(
    shared: ArtifactCache, capsys: pytest.CaptureFixture[str]
) -> None:
    """Other machines' runs use a shared store's entries; this database does not list them."""
    assert main(["cache", "gc", "--orphans"]) == 2
    err = capsys.readouterr().err
    assert "shared store" in err and "lifecycle" in err
    assert sorted(shared.entries()) == ["fit-b", "fit-c", "load-a"]


def _age(path: Path, seconds: float) -> None:
    """Make ``path`` and everything under it last changed ``seconds`` ago."""
    t = time.time() - seconds
    for p in [*path.rglob("*"), path] if path.is_dir() else [path]:
        os.utime(p, (t, t))


@pytest.mark.parametrize("where", ["local", "shared"])
def test_du_tells_a_write_in_progress_from_a_crashed_one(
    where: str,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Uncommitted files count as left by a crashed write only once nothing in them has
    changed for an hour (the age after which gc --orphans takes them): before, a big value
    being saved or an upload to a shared store may still be going."""
    if where == "shared":
        monkeypatch.setenv("SOUS_CACHE_URL", f"file://{tmp_path / 'team-store'}")
        root = tmp_path / "team-store"
    else:
        root = home / "cache"
    cache = ArtifactCache(f"file://{root}" if where == "shared" else root)
    put(cache, "fit-a")
    going, crashed = root / "fit-b", root / ".load-c.tmp1"  # an upload, a staging folder
    for folder in (going, crashed):
        folder.mkdir()
        (folder / "value.pkl").write_bytes(b"v" * 3000)
    _age(crashed, 2 * 3600)
    _age(going, 2 * 3600)
    (going / "more.bin").write_bytes(b"m" * 500)  # the upload goes on: changed just now
    use = maintenance.usage(cache)
    assert (use.in_progress_bytes, use.leftover_bytes) == (3500, 3000)
    assert [e.key for e in use.entries] == ["fit-a"]
    assert main(["cache", "du", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["in_progress_bytes"], out["leftover_bytes"]) == (3500, 3000)
    assert out["total_bytes"] == use.total_bytes
    assert main(["cache", "du"]) == 0
    text = capsys.readouterr().out
    assert "(writes in progress, or crashed within the hour)" in text
    assert "(left by crashed writes)" in text
    _age(going, 2 * 3600)  # nothing more came: a crashed upload too
    use = maintenance.usage(cache)
    assert (use.in_progress_bytes, use.leftover_bytes) == (0, 6500)


def test_gc_spares_a_write_du_counts_as_in_progress(filled: ArtifactCache) -> None:
    """gc and du judge an uncommitted write by the same age, its newest change: a staging
    folder made two hours ago whose value is still being written is not a crashed write's
    leftover for either (a long write changes the file, not its folder)."""
    staging = filled.root / ".fit-z.tmp9"
    staging.mkdir()
    value = staging / "value.pkl"
    value.write_bytes(b"v" * 2000)
    _age(staging, 2 * 3600)
    with value.open("ab") as f:  # the write goes on
        f.write(b"v" * 100)
    assert maintenance.usage(filled).in_progress_bytes == 2100
    assert main(["cache", "gc", "--orphans"]) == 0
    assert value.is_file()
    _age(staging, 2 * 3600)  # nothing more came: now both call it a crashed write's
    assert maintenance.usage(filled).leftover_bytes == 2100
    assert main(["cache", "gc", "--orphans"]) == 0
    assert not staging.exists()
