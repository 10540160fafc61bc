"""``cluster.adaptive: {minimum, maximum}`` -> AdaptiveSpec, with its problems reported."""

from __future__ import annotations

from engine import specs
from engine.recipe.problems import Issues, Section

KEYS = frozenset({"minimum", "maximum"})


def adaptive_spec(cluster: Section, kind: str | None, issues: Issues) -> specs.AdaptiveSpec | None:
    """The adaptive bounds of a local cluster, or None when the recipe sets none. A remote
    scheduler's workers are its own deployment's (dask-jobqueue, the Kubernetes operator):
    Sous cannot scale them, so ``adaptive`` is refused there."""
    if not cluster.has("adaptive"):
        return None
    section = cluster.mapping("adaptive", KEYS)
    minimum = section.integer("minimum", specs.AdaptiveSpec.minimum, minimum=0)
    maximum = section.integer("maximum", specs.AdaptiveSpec.maximum, minimum=1)
    if kind == "remote":
        issues.add(
            cluster.key("adaptive"),
            "cluster.adaptive scales a local cluster; a remote scheduler's workers are "
            "scaled where they are deployed",
            expected="kind: local with adaptive, or no adaptive with kind: remote",
            got="kind: remote",
            hint="scale the remote cluster with its own autoscaler: "
            "cluster/scripts/slurm_cluster.py --adapt MIN:MAX (SLURM) or "
            "cluster/kubernetes/dask-adaptive.yaml (Kubernetes)",
        )
    if minimum is None or maximum is None:
        return None
    if maximum < minimum:
        issues.add(
            section.key("maximum"),
            f"cluster.adaptive.maximum ({maximum}) is below its minimum ({minimum})",
            expected=f"an integer >= {minimum}",
            got=repr(maximum),
        )
        return None
    return specs.AdaptiveSpec(minimum=minimum, maximum=maximum)
