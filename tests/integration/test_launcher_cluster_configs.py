"""The ready-made cluster configs in cluster/ parse and keep Sous's conventions:
one thread per worker, the scheduler on 8786, GPU pools advertise the GPU resource."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def _docs(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((CLUSTER / name).read_text()))


def _args(container: dict[str, Any]) -> list[str]:
    return [str(a) for a in container["args"]]


def test_slurm_workers_are_single_threaded() -> None:
    (doc,) = _docs("slurm.yaml")
    slurm = doc["jobqueue"]["slurm"]
    assert slurm["cores"] == slurm["processes"]
    assert slurm["scheduler-options"]["port"] == 8786


@pytest.mark.parametrize(
    "gpus, expected",
    [
        pytest.param(0, {}, id="cpu"),
        pytest.param(
            2,
            {
                "cores": 1,
                "processes": 1,
                "job_extra_directives": ["--gres=gpu:2"],
                "worker_extra_args": ["--resources", "GPU=2"],
            },
            id="gpu",
        ),
    ],
)
def test_slurm_script_turns_gpus_into_resources(gpus: int, expected: dict[str, Any]) -> None:
    spec = importlib.util.spec_from_file_location(
        "slurm_cluster", CLUSTER / "scripts" / "slurm_cluster.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._overrides(argparse.Namespace(gpus=gpus, queue=None)) == expected


def test_kubernetes_cluster_scheduler_and_workers() -> None:
    cluster, pvc = _docs("kubernetes/daskcluster.yaml")
    assert (cluster["apiVersion"], cluster["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    ports = {p["port"] for p in cluster["spec"]["scheduler"]["service"]["ports"]}
    assert 8786 in ports
    (worker,) = cluster["spec"]["worker"]["spec"]["containers"]
    args = _args(worker)
    assert args[:2] == ["dask", "worker"] and args[args.index("--nthreads") + 1] == "1"
    claim = cluster["spec"]["worker"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert pvc["kind"] == "PersistentVolumeClaim" and pvc["metadata"]["name"] == claim


def test_kubernetes_gpu_group_advertises_what_it_requests() -> None:
    (cluster,) = _docs("kubernetes/daskcluster.yaml")[:1]
    (group,) = _docs("kubernetes/gpu-workergroup.yaml")
    assert group["kind"] == "DaskWorkerGroup"
    assert group["spec"]["cluster"] == cluster["metadata"]["name"]
    (worker,) = group["spec"]["worker"]["spec"]["containers"]
    args = _args(worker)
    gpus = worker["resources"]["limits"]["nvidia.com/gpu"]
    assert args[args.index("--resources") + 1] == f"GPU={gpus}"
