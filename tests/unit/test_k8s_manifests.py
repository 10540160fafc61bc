"""The Kubernetes manifests in cluster/kubernetes/ (issue 16): every YAML parses, kinds are
known, and the serving manifests agree with each other (labels, selectors, names) and with
what `sous build` produces (BentoML's generated Dockerfile: port 3000, user uid 1034)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "cluster" / "kubernetes"
SERVING = K8S / "serving"
API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "PersistentVolumeClaim": "v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
    "DaskCluster": "kubernetes.dask.org/v1",
    "DaskWorkerGroup": "kubernetes.dask.org/v1",
    "DaskAutoscaler": "kubernetes.dask.org/v1",
}


def documents(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(root.rglob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                yield path, doc


def one(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in documents(SERVING) if d["kind"] == kind]
    return doc


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container of a workload, whatever its kind."""
    if doc["kind"] == "Deployment":
        return list(doc["spec"]["template"]["spec"]["containers"])
    if doc["kind"] == "DaskCluster":
        spec = doc["spec"]
        return [*spec["worker"]["spec"]["containers"], *spec["scheduler"]["spec"]["containers"]]
    if doc["kind"] == "DaskWorkerGroup":
        return list(doc["spec"]["worker"]["spec"]["containers"])
    return []


def test_every_manifest_parses_with_a_known_kind_and_its_api_version() -> None:
    docs = list(documents(K8S))
    assert len(docs) >= 8
    for path, doc in docs:
        kind = doc.get("kind")
        assert kind in API_VERSIONS, f"{path}: unknown kind {kind!r}"
        assert doc["apiVersion"] == API_VERSIONS[kind], f"{path}: {kind}"
        if kind != "Kustomization":
            assert doc["metadata"]["name"], f"{path}: {kind} without a name"


BUILT_IN = ("apps/v1", "v1", "autoscaling/v2", "policy/v1")


@pytest.mark.parametrize("path", sorted(SERVING.glob("*.yaml")), ids=lambda p: p.name)
def test_serving_manifests_follow_the_kubernetes_api_schemas(path: Path) -> None:
    """Strict: a misspelt field (``readinesProbe``) or a wrong type fails here, not at
    ``kubectl apply``."""
    import kubernetes_validate as kv

    for doc in yaml.safe_load_all(path.read_text()):
        if doc["apiVersion"] in BUILT_IN:
            kv.validate(doc, kv.latest_version(), strict=True)


def test_the_schema_check_catches_a_misspelt_probe() -> None:
    import kubernetes_validate as kv

    deploy = one("Deployment")
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    c["readinesProbe"] = c.pop("readinessProbe")
    with pytest.raises(kv.ValidationError, match="readinesProbe"):
        kv.validate(deploy, kv.latest_version(), strict=True)


def test_kustomization_lists_every_serving_manifest() -> None:
    listed = set(one("Kustomization")["resources"])
    on_disk = {p.name for p in SERVING.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert listed == on_disk


def test_labels_and_selectors_match() -> None:
    deploy = one("Deployment")
    selector = deploy["spec"]["selector"]["matchLabels"]
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert selector and selector.items() <= pod_labels.items()
    assert one("Service")["spec"]["selector"] == selector
    assert one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    spread = deploy["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert all(c["labelSelector"]["matchLabels"] == selector for c in spread)


def test_autoscaler_and_disruption_budget_fit_the_deployment() -> None:
    deploy, hpa, pdb = one("Deployment"), one("HorizontalPodAutoscaler"), one("PodDisruptionBudget")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == (
        deploy["apiVersion"],
        "Deployment",
        deploy["metadata"]["name"],
    )
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 2 <= low <= high
    assert low <= deploy["spec"]["replicas"] <= high
    # a drain can always evict one pod: fewer must stay available than ever run
    assert pdb["spec"]["minAvailable"] < low
    # CPU utilisation is a share of the request: the container must have one
    assert any(m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])


def serve_container() -> dict[str, Any]:
    (c,) = containers(one("Deployment"))
    return c


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(found)


def test_probes_use_the_served_apps_health_endpoints() -> None:
    from engine.serving.runtime.guard import OPEN_PATHS

    c = serve_container()
    probes = {k: c[k]["httpGet"] for k in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/livez"
    for probe in probes.values():
        assert probe["path"] in OPEN_PATHS  # reachable without a token
        assert port_number(c, probe["port"]) == bentoml_port()


def bentoml_port() -> int:
    """The port the image BentoML generates for `sous build` serves on (its default)."""
    import bentoml

    root = Path(bentoml.__file__).parent / "_internal"
    config = yaml.safe_load((root / "configuration/v2/default_configuration.yaml").read_text())
    port = int(config["services"]["http"]["port"])
    template = (root / "container/frontend/dockerfile/templates/base.j2").read_text()
    assert f"EXPOSE {port}" in template
    return port


def test_image_and_ports_are_what_sous_build_produces() -> None:
    from bentoml._internal.container.generate import BENTO_UID_GID

    deploy = one("Deployment")
    c = serve_container()
    bento_name = deploy["metadata"]["labels"]["app.kubernetes.io/instance"]
    assert c["image"] == bento_name  # `bentoml containerize NAME:VERSION` tags NAME:VERSION
    (image,) = one("Kustomization")["images"]
    assert image["name"] == bento_name and image["newName"].endswith(f"/{bento_name}")
    assert image["newTag"] != "latest"  # a model version, so that rollouts are explicit
    assert "command" not in c and "args" not in c  # the image's entrypoint runs bentoml serve
    assert port_number(c, "http") == bentoml_port()
    service_port = one("Service")["spec"]["ports"][0]
    assert port_number(c, service_port["targetPort"]) == bentoml_port()
    pod = deploy["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == pod["runAsGroup"] == BENTO_UID_GID
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_secrets_come_from_a_secret_and_the_admin_token_follows_the_predict_token() -> None:
    env = {e["name"]: e for e in serve_container()["env"]}
    secret = {n for n, e in env.items() if "secretKeyRef" in e.get("valueFrom", {})}
    assert all("value" not in env[n] for n in secret)
    tokens = {n for n in secret if n.endswith("_TOKEN")}
    assert tokens and {f"{t}_ADMIN" for t in tokens} <= secret  # docs/deployment.md's scopes
    assert "SOUS_PII_SALT" in secret  # data.pii_salt_env's default
    assert env["BENTOML_DO_NOT_TRACK"]["value"] == "True"


def test_draining_outlasts_the_prestop_pause_and_the_traffic_timeout() -> None:
    from engine.serving import codegen

    assert 'traffic_timeout=int(config.get("timeout_s", 60))' in Path(codegen.__file__).read_text()
    c = serve_container()
    command = c["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    grace = one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > int(command[1]) + 60


@pytest.mark.parametrize("path", sorted(K8S.rglob("*.yaml")), ids=lambda p: p.name)
def test_serving_and_worker_containers_declare_their_resources(path: Path) -> None:
    """Where the work runs (served replicas, Dask workers): the scheduler can place them and
    the autoscalers can measure them. Without requests, limits stand in for them."""
    for doc in yaml.safe_load_all(path.read_text()):
        for c in containers(doc or {"kind": None}):
            if doc["kind"] != "Deployment" and c["name"] != "worker":
                continue
            res = c.get("resources") or {}
            assert res.get("requests") or res.get("limits"), f"{path.name}: {c['name']}"
            if doc["kind"] == "Deployment":
                for part in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(res[part]), f"{path.name}: {part}"


def test_adaptive_dask_cluster_has_an_autoscaler_with_bounds() -> None:
    docs = [d for _, d in documents(K8S) if d["kind"] in ("DaskCluster", "DaskAutoscaler")]
    clusters = {d["metadata"]["name"]: d for d in docs if d["kind"] == "DaskCluster"}
    scalers = [d for d in docs if d["kind"] == "DaskAutoscaler"]
    assert scalers
    for s in scalers:
        assert s["spec"]["cluster"] in clusters
        assert 0 <= s["spec"]["minimum"] <= s["spec"]["maximum"]
        cluster = clusters[s["spec"]["cluster"]]
        (worker,) = cluster["spec"]["worker"]["spec"]["containers"]
        args = [str(a) for a in worker["args"]]
        assert args[args.index("--nthreads") + 1] == "1"  # Sous's rule: one thread per worker
        assert {"cpu", "memory"} <= set(worker["resources"]["requests"])
        service = cluster["spec"]["scheduler"]["service"]
        assert service["selector"]["dask.org/cluster-name"] == cluster["metadata"]["name"]
