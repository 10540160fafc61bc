"""Versions, aliases, target resolution, smoke tests and ``build`` on real Bentos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from serving_support import package_iris, rows, sous_home

from engine.errors import NotFoundError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with sous_home(tmp_path_factory.mktemp("sous")) as home:
        est1, v1 = package_iris(c=1.0)
        est2, v2 = package_iris(c=0.01)  # a weaker model: predictions differ on some rows
        from engine.store.registry import record_smoke

        for v in (v1, v2):  # as a run's release step does: production needs a passed smoke test
            record_smoke("iris", v.version, True)
        yield {"home": home, "est1": est1, "v1": v1, "est2": est2, "v2": v2}


def test_resolve_target_follows_aliases(two_versions: dict[str, Any]) -> None:
    from engine.serving import promote, resolve_target, rollback

    v1, v2 = two_versions["v1"], two_versions["v2"]
    assert resolve_target("iris") == v2.bento_tag  # no alias yet: latest
    promote("iris", v1.version, "staging")
    assert resolve_target("iris") == v1.bento_tag  # staging beats latest
    promote("iris", v2.version, "production")
    assert resolve_target("iris") == v2.bento_tag  # production beats staging
    assert resolve_target(f"iris:{v1.version}") == v1.bento_tag
    assert resolve_target(v1.bento_tag) == v1.bento_tag  # a Bento tag as is
    assert resolve_target("iris:latest") == v2.bento_tag
    promote("iris", v1.version, "production")
    assert rollback("iris") == v2.version
    assert resolve_target("iris") == v2.bento_tag


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("nope", id="unknown-name"),
        pytest.param("iris:nope", id="unknown-version"),
        pytest.param("", id="empty"),
    ],
)
def test_unknown_targets(two_versions: dict[str, Any], target: str) -> None:
    from engine.serving import resolve_target

    with pytest.raises(NotFoundError) as info:
        resolve_target(target)
    assert info.value.exit_code == 2


def test_list_versions(two_versions: dict[str, Any]) -> None:
    from engine.serving import list_versions, promote

    promote("iris", two_versions["v1"].version, "staging")
    out = list_versions("iris")
    assert [v.version for v in out] == [two_versions["v1"].version, two_versions["v2"].version]
    assert "staging" in out[0].aliases
    assert out[0].metrics == {"f1": 0.97, "accuracy": 0.97}
    assert out[0].labels["gate"] == "passed" and out[0].bento_tag == two_versions["v1"].bento_tag
    with pytest.raises(NotFoundError):
        list_versions("nope")


def test_smoke_passes_when_the_server_agrees_with_the_model(two_versions: dict[str, Any]) -> None:
    from engine.serving import smoke

    body = rows(30)
    want = two_versions["est1"].predict(pd.DataFrame(body))
    res = smoke(two_versions["v1"].bento_tag, body, list(want), p99_budget_ms=5_000)
    assert res.passed, res.message
    assert res.n == 30 and res.mismatches == 0 and res.p99_ms is not None


def test_smoke_fails_on_mismatch_and_budget(two_versions: dict[str, Any]) -> None:
    from engine.serving import smoke

    body = rows(150)
    other = two_versions["est2"].predict(pd.DataFrame(body))  # v2's answers, checked against v1
    res = smoke(two_versions["v1"].bento_tag, body, list(other), p99_budget_ms=0.001)
    assert not res.passed
    assert res.mismatches > 0 and "mismatches" in res.message
    assert "over the budget" in res.message


def test_build_writes_dockerfile_and_portable_archive(
    two_versions: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.serving import build

    monkeypatch.chdir(tmp_path)
    out = build("iris", two_versions["v1"].version, out_dir=Path("dist"))  # relative, as the CLI
    assert Path(out.archive).is_relative_to(tmp_path / "dist")
    assert out.bento_tag == two_versions["v1"].bento_tag
    dockerfile = Path(out.dockerfile).read_text()
    assert "FROM" in dockerfile and "bentoml" in dockerfile.lower()
    reqs = (Path(out.bento_path) / "env" / "python" / "requirements.txt").read_text()
    assert "scikit-learn==" in reqs
    assert (Path(out.bento_path) / "src" / "service.py").exists()
    assert (Path(out.bento_path) / "src" / "engine" / "serving" / "runtime" / "service.py").exists()
    # The archive carries the model: importing it into an empty store makes it servable.
    with sous_home(tmp_path / "elsewhere"):
        from engine.serving._bentoml import bentoml

        bm = bentoml()
        imported = bm.bentos.import_bento(out.archive)
        assert str(imported.tag) == out.bento_tag
        assert bm.models.get(two_versions["v1"].model_tag) is not None


def test_bento_exists(two_versions: dict[str, Any]) -> None:
    from engine.serving import bento_exists

    assert bento_exists(two_versions["v1"].bento_tag)
    assert not bento_exists("iris:doesnotexist")
    assert not bento_exists("not a tag!")


def test_serve_in_the_foreground_until_interrupted(two_versions: dict[str, Any]) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from engine.serving.server import free_port

    port = free_port()
    code = f"import sys; from engine.serving import serve; sys.exit(serve('iris', port={port}))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        r = httpx.post(f"http://127.0.0.1:{port}/predict", json=rows(1)[0])
        assert r.status_code == 200
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode in (0, 130)
    assert b"serving iris:" in out
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
