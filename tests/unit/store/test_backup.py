"""Whole-state backup and restore (issue 16): what is copied, the manifest as commit marker,
digests checked before the home is touched, atomic replacement, refusals."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import UserError
from engine.store import backup as bk
from engine.store import registry
from engine.store.cache import MISS, ArtifactCache, EntryMeta
from engine.store.db import forget
from engine.store.runs import RunsDB


def url_of(home: Path) -> str:
    return f"sqlite:///{home / 'runs.db'}"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home with two runs, a registered version, a BentoML store (one model and Bento
    complete, one model half-written) and a cache (a packed entry, a directory entry, a
    crashed write of each layout)."""
    home = tmp_path / "home"
    monkeypatch.setenv("SOUS_HOME", str(home))
    monkeypatch.delenv("SOUS_DB_URL", raising=False)
    url = url_of(home)
    db = RunsDB(url)
    for i in (1, 2):
        db.start({"run_id": f"r{i}", "recipe": "iris", "status": "ok", "started_at": f"2026-1{i}"})
    registry.record_version(
        "iris", "v1", model_tag="iris:m1", bento_tag="iris:b1", metrics={"f1": 0.9}, labels={}
    )
    store = home / "bentoml"
    write(store / "models/iris/m1/model.yaml", "name: iris\n")
    write(store / "models/iris/m1/estimator.pkl", "pickled")
    write(store / "models/iris/latest", "m1")
    write(store / "models/iris/m2/estimator.pkl", "half written: no model.yaml yet")
    write(store / "bentos/iris/b1/bento.yaml", "tag: iris:b1\n")
    write(store / "bentos/iris/b1/src/service.py", "print('hi')\n")
    write(store / "tmp/scratch", "BentoML's own temp files")
    cache = ArtifactCache(home / "cache")
    cache.save("split-abc", {"rows": [1, 2, 3]}, EntryMeta("split-abc", "split", 0.1, 0.1, 1.0))
    cache.packs = False
    cache.save("load-xyz", {"rows": [4]}, EntryMeta("load-xyz", "load", 0.1, 0.1, 1.0))
    write(home / "cache/.split-def.tmp/value.pkl", "crashed write")
    write(home / "cache/.fit-q.k2x9", "crashed packed write")
    yield home
    forget(url)


def test_backup_copies_complete_state_and_writes_manifest_last(home: Path, tmp_path: Path) -> None:
    m = bk.backup(home, url_of(home), tmp_path / "b", with_cache=True)
    paths = {f.path for f in m.files}
    assert {
        "runs.db",
        "bentoml/models/iris/m1/model.yaml",
        "bentoml/models/iris/m1/estimator.pkl",
        "bentoml/models/iris/latest",
        "bentoml/bentos/iris/b1/bento.yaml",
        "bentoml/bentos/iris/b1/src/service.py",
    } <= paths
    assert not any("m2" in p or "tmp/" in p or "/." in p for p in paths)
    assert "cache/split-abc" in paths  # packed: one file
    assert {"cache/load-xyz/meta.json", "cache/load-xyz/value.pkl"} <= paths
    assert (m.count("models"), m.count("bentos"), m.count("cache")) == (1, 1, 2)
    on_disk = json.loads((tmp_path / "b" / bk.MANIFEST).read_text())
    assert on_disk["counts"] == {"runs_db": 1, "models": 1, "bentos": 1, "cache": 2}
    assert on_disk["sous_version"] and on_disk["created_at"]
    newest = max(p.stat().st_mtime_ns for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert (tmp_path / "b" / bk.MANIFEST).stat().st_mtime_ns == newest
    copied = sqlite3.connect(tmp_path / "b" / "runs.db")
    assert copied.execute("select count(*) from runs").fetchone() == (2,)
    copied.close()


@pytest.mark.parametrize("key", ["split-abc", "load-xyz"], ids=["one-file", "folder"])
def test_a_cache_entry_removed_while_copied_is_left_out_whole(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """gc removing an entry while the backup copies it: what was copied of it goes too."""
    copy = bk._copy_file

    def copy_then_vanish(src: Path, home_: Path, dest: Path, part: str) -> bk.FileEntry:
        entry = copy(src, home_, dest, part)
        if key in src.parts:
            raise FileNotFoundError(2, "removed meanwhile", str(src))
        return entry

    monkeypatch.setattr(bk, "_copy_file", copy_then_vanish)
    m = bk.backup(home, url_of(home), tmp_path / "b", with_cache=True)
    assert m.count("cache") == 1 and not any(key in f.path for f in m.files)
    assert not (tmp_path / "b" / "cache" / key).exists()


def test_cache_only_with_the_flag(home: Path, tmp_path: Path) -> None:
    m = bk.backup(home, url_of(home), tmp_path / "b")
    assert not m.with_cache and m.count("cache") == 0
    assert not (tmp_path / "b" / "cache").exists()


def test_restore_into_an_empty_home_gives_the_same_state(home: Path, tmp_path: Path) -> None:
    bk.backup(home, url_of(home), tmp_path / "b", with_cache=True)
    new = tmp_path / "new"
    done = bk.restore(tmp_path / "b", new, url_of(new))
    assert done.home == new.resolve() and done.previous is None
    for rel in ("bentoml/models/iris/m1/estimator.pkl", "bentoml/bentos/iris/b1/src/service.py"):
        assert (new / rel).read_bytes() == (home / rel).read_bytes()
    assert [r["run_id"] for r in RunsDB(url_of(new)).list()] == ["r2", "r1"]
    assert registry.get_version("iris", "v1", url=url_of(new)).bento_tag == "iris:b1"
    assert ArtifactCache(new / "cache").get("split-abc") == {"rows": [1, 2, 3]}
    assert ArtifactCache(new / "cache").get("load-xyz") == {"rows": [4]}
    assert not list(tmp_path.glob(".new.restore-*"))  # the temp dir became the home
    forget(url_of(new))


def test_restored_cache_under_another_key_is_a_miss(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bk.backup(home, url_of(home), tmp_path / "b", with_cache=True)
    new = tmp_path / "new"
    bk.restore(tmp_path / "b", new, url_of(new))
    monkeypatch.setenv("SOUS_SIGNING_KEY", "another-machine-key-" + "1" * 32)
    assert ArtifactCache(new / "cache").get("split-abc") is MISS
    forget(url_of(new))


def test_restore_refuses_a_non_empty_home_unless_forced(home: Path, tmp_path: Path) -> None:
    bk.backup(home, url_of(home), tmp_path / "b")
    other = tmp_path / "other"
    write(other / "runs" / "note.txt", "mine")
    with pytest.raises(UserError, match="not empty"):
        bk.restore(tmp_path / "b", other, url_of(other))
    assert (other / "runs" / "note.txt").read_text() == "mine"
    done = bk.restore(tmp_path / "b", other, url_of(other), force=True)
    assert done.previous is not None and (done.previous / "runs" / "note.txt").is_file()
    assert not (other / "runs").exists() and (other / "runs.db").is_file()
    forget(url_of(other))


def flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, says",
    [
        pytest.param(lambda b: flip_byte(b / "runs.db", 5000), "runs.db does not match", id="db"),
        pytest.param(
            lambda b: flip_byte(b / "bentoml/models/iris/m1/estimator.pkl", 2),
            "estimator.pkl does not match",
            id="model-file",
        ),
        pytest.param(
            lambda b: (b / "bentoml/bentos/iris/b1/bento.yaml").unlink(), "is missing", id="gone"
        ),
        pytest.param(
            lambda b: (b / "runs.db").write_bytes(b"short"), "has 5 bytes", id="truncated"
        ),
        pytest.param(lambda b: (b / bk.MANIFEST).unlink(), "no manifest.json", id="no-manifest"),
        pytest.param(
            lambda b: (b / bk.MANIFEST).write_text("{not json"), "not a Sous backup", id="manifest"
        ),
    ],
)
def test_a_damaged_backup_is_refused_before_the_home_is_touched(
    home: Path, tmp_path: Path, damage: object, says: str
) -> None:
    bk.backup(home, url_of(home), tmp_path / "b")
    damage(tmp_path / "b")  # type: ignore[operator]
    new = tmp_path / "new"
    with pytest.raises(UserError, match=says):
        bk.restore(tmp_path / "b", new, url_of(new))
    assert not new.exists()
    assert not list(tmp_path.glob(".new.restore-*"))


def test_manifest_cannot_name_files_outside_the_backup(home: Path, tmp_path: Path) -> None:
    bk.backup(home, url_of(home), tmp_path / "b")
    body = json.loads((tmp_path / "b" / bk.MANIFEST).read_text())
    body["files"][0]["path"] = "../outside"
    (tmp_path / "b" / bk.MANIFEST).write_text(json.dumps(body))
    with pytest.raises(UserError, match="outside the backup"):
        bk.restore(tmp_path / "b", tmp_path / "new", url_of(tmp_path / "new"))


@pytest.mark.parametrize("verb", ["backup", "restore"])
def test_a_server_database_is_refused_with_pg_dump_guidance(tmp_path: Path, verb: str) -> None:
    url = "postgresql://sous@db.example/sous"
    with pytest.raises(UserError, match="pg_dump"):
        if verb == "backup":
            bk.backup(tmp_path / "home", url, tmp_path / "b")
        else:
            bk.restore(tmp_path / "b", tmp_path / "home", url)


def test_backup_refuses_a_used_destination_or_one_inside_the_home(
    home: Path, tmp_path: Path
) -> None:
    write(tmp_path / "used" / "x", "x")
    with pytest.raises(UserError, match="not empty"):
        bk.backup(home, url_of(home), tmp_path / "used")
    with pytest.raises(UserError, match="inside the home"):
        bk.backup(home, url_of(home), home / "backups" / "b")


def test_cli_backup_and_restore(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "b"
    assert main(["backup", str(dest), "--with-cache"]) == 0
    assert "1 models, 1 Bentos, 2 cache entries" in capsys.readouterr().out
    flip_byte(dest / "runs.db", 100)
    new = tmp_path / "new"
    monkeypatch.setenv("SOUS_HOME", str(new))
    assert main(["restore", str(dest)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is damaged: runs.db" in err
    assert not new.exists()
    flip_byte(dest / "runs.db", 100)  # undone
    assert main(["restore", str(dest), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["home"] == str(new.resolve()) and out["models"] == 1
    assert main(["restore", str(dest)]) == 2
    assert "--force" in capsys.readouterr().err
    forget(url_of(new))


def test_a_database_outside_the_home_is_backed_up_and_restored_in_place(
    home: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "team" / "runs.db"
    url = f"sqlite:///{elsewhere}"
    RunsDB(url).start({"run_id": "t1", "recipe": "team", "status": "ok", "started_at": "2026"})
    bk.backup(home, url, tmp_path / "b")
    forget(url)
    elsewhere.unlink()
    new = tmp_path / "new"
    bk.restore(tmp_path / "b", new, url)
    assert [r["run_id"] for r in RunsDB(url).list()] == ["t1"]
    assert not (new / "runs.db").exists()  # the database went where SOUS_DB_URL says
    assert (new / "bentoml/models/iris/m1/model.yaml").is_file()
    with pytest.raises(UserError, match="not empty"):  # that database counts as the home's
        bk.restore(tmp_path / "b", tmp_path / "new2", url)
    forget(url)


def test_a_mount_point_home_is_refused_with_the_way_round(home: Path, tmp_path: Path) -> None:
    bk.backup(home, url_of(home), tmp_path / "b")
    with pytest.raises(UserError, match="mount point") as err:
        bk.restore(tmp_path / "b", Path("/proc"), "sqlite:////proc/runs.db", force=True)
    assert err.value.hint == "restore into a directory inside it: SOUS_HOME=/proc/sous"


def test_a_failed_backup_leaves_an_empty_destination(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.errors import RunError

    def always_changing(src: Path, target: Path) -> tuple[str, int]:
        target.write_bytes(b"partial")
        raise RunError(f"{src} kept changing while it was copied")

    monkeypatch.setattr(bk, "_copy_hashing", always_changing)
    dest = tmp_path / "b"
    dest.mkdir()
    with pytest.raises(RunError, match="kept changing"):
        bk.backup(home, url_of(home), dest)
    assert dest.is_dir() and not any(dest.iterdir())
    monkeypatch.undo()
    monkeypatch.setenv("SOUS_HOME", str(home))
    assert bk.backup(home, url_of(home), dest).count("models") == 1  # the same DEST again


def test_a_file_that_changes_while_copied_is_copied_again(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    victim = home / "bentoml/models/iris/m1/estimator.pkl"
    real = bk._copy_hashing
    calls: list[Path] = []

    def copy_then_write(src: Path, target: Path) -> tuple[str, int]:
        out = real(src, target)
        calls.append(src)
        if src == victim and calls.count(victim) == 1:
            victim.write_text("pickled, then rewritten while it was being copied")
        return out

    monkeypatch.setattr(bk, "_copy_hashing", copy_then_write)
    m = bk.backup(home, url_of(home), tmp_path / "b")
    assert calls.count(victim) == 2
    (entry,) = [f for f in m.files if f.path.endswith("m1/estimator.pkl")]
    assert entry.sha256 == hashlib.sha256(victim.read_bytes()).hexdigest()
    assert (tmp_path / "b" / entry.path).read_bytes() == victim.read_bytes()
