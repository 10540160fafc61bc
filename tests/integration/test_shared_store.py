"""A shared artifact store ($SOUS_CACHE_URL) across two "machines": two homes (their own
runs database, registry, model store), one signing key shared out of band, one store.

The first test shares a directory through the fsspec code path (``file://``) with a real
local Dask cluster, whose worker processes read and write the store directly. The second
runs against a real S3 protocol server on 127.0.0.1, through s3fs: moto's server mode
stands in for S3 because no object store runs here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import api

KEY = "team-signing-key-shared-out-of-band-" + "7" * 16
OVERRIDES = ["deploy=none", "models.rf.n_estimators=5", "cv.folds=2"]


def run_in_home(
    monkeypatch: pytest.MonkeyPatch, home: Path, store: str, cluster: str
) -> dict[str, Any]:
    monkeypatch.setenv("SOUS_HOME", str(home))
    monkeypatch.setenv("SOUS_CACHE_URL", store)
    monkeypatch.setenv("SOUS_SIGNING_KEY", KEY)
    return api.run(api.validate("iris", [f"cluster={cluster}", *OVERRIDES]))


def computed(record: dict[str, Any]) -> list[str]:
    return [s["name"] for s in record["steps"] if not s["cached"]]


def test_a_second_home_on_a_shared_directory_computes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.execution.cluster import start_warm_server

    # Workers fork from a server process that keeps the environment it started with; the
    # variables a worker gets are added on top, so one this test sets and later unsets
    # (the signing key) would outlive it in later tests' workers: start the server first.
    start_warm_server()
    store = tmp_path / "team-store"
    first = run_in_home(monkeypatch, tmp_path / "laptop", f"file://{store}", "local")
    assert first["status"] == "succeeded" and computed(first)
    keys = {s["key"] for s in first["steps"]}
    on_store = {p.name for p in store.iterdir() if (p / "meta.json").is_file()}
    assert keys <= on_store  # the workers wrote every entry into the shared store
    assert not (tmp_path / "laptop" / "cache").exists()  # and nothing into the home

    second = run_in_home(monkeypatch, tmp_path / "ci-runner", f"file://{store}", "local")
    assert second["status"] == "succeeded"
    assert computed(second) == []
    assert second["winner"] == first["winner"]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server on a free loopback port, with a bucket; stopped afterwards."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="team")
        yield endpoint
    finally:
        server.stop()


def test_an_s3_store_is_shared_and_a_tampered_entry_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3: str
) -> None:
    import s3fs

    url = f"s3://team/sous-cache-{tmp_path.name}"
    first = run_in_home(monkeypatch, tmp_path / "laptop", url, "sync")
    assert first["status"] == "succeeded" and computed(first)
    bucket = s3fs.S3FileSystem(endpoint_url=s3, skip_instance_cache=True)
    prefix = url.removeprefix("s3://")
    stored = {p.rsplit("/", 1)[-1] for p in bucket.ls(prefix)}
    assert {s["key"] for s in first["steps"]} <= stored

    # tamper with one entry: its meta now claims another digest for its value
    victim = next(s for s in first["steps"] if s["name"] == "test")  # a target: needed
    path = f"{prefix}/{victim['key']}/meta.json"
    meta = json.loads(bucket.cat_file(path))
    meta["digests"]["value.pkl"] = "0" * 64
    bucket.pipe_file(path, json.dumps(meta).encode())

    second = run_in_home(monkeypatch, tmp_path / "ci-runner", url, "sync")
    assert second["status"] == "succeeded"
    assert computed(second) == ["test"]  # a miss, recomputed; the rest came from the store
    quarantined = bucket.ls(f"{prefix}/.quarantine")
    assert any(victim["key"] in q for q in quarantined)
