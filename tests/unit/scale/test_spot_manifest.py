"""cluster/kubernetes/spot-workergroup.yaml: preemptible workers that join the `sous`
DaskCluster with Sous's worker rules (one thread, the shared cache volume, resources) and
are placed only on spot nodes they tolerate."""

from __future__ import annotations

from pathlib import Path

import yaml

K8S = Path(__file__).resolve().parents[3] / "cluster" / "kubernetes"


def test_spot_workers_join_the_cluster_on_spot_nodes_with_the_shared_cache() -> None:
    group = yaml.safe_load((K8S / "spot-workergroup.yaml").read_text())
    cluster = yaml.safe_load_all((K8S / "daskcluster.yaml").read_text())
    names = {d["metadata"]["name"] for d in cluster if d and d["kind"] == "DaskCluster"}
    assert group["kind"] == "DaskWorkerGroup" and group["spec"]["cluster"] in names
    pod = group["spec"]["worker"]["spec"]
    (label, value), = pod["nodeSelector"].items()  # fmt: skip
    assert any(t["key"] == label and t["value"] == value for t in pod["tolerations"])
    assert pod["terminationGracePeriodSeconds"] < 30  # within a reclaim's notice
    (worker,) = pod["containers"]
    args = [str(a) for a in worker["args"]]
    assert args[:2] == ["dask", "worker"] and args[args.index("--nthreads") + 1] == "1"
    env = {e["name"]: e["value"] for e in worker["env"]}
    (mount,) = worker["volumeMounts"]
    assert env["SOUS_HOME"] == mount["mountPath"]
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    assert volume["persistentVolumeClaim"]["claimName"] == "sous-state"
    assert {"cpu", "memory"} <= set(worker["resources"]["requests"])
