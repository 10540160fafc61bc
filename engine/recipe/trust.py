"""Trust rules across sections, checked when a recipe is validated: what a recipe may not
ask for even when each key is well-formed (docs/security.md)."""

from __future__ import annotations

from engine import specs
from engine.recipe.problems import Issues
from engine.security import schedulers


def check_deploy(deploy: specs.DeploySpec, issues: Issues) -> None:
    """Production requires a passed smoke test: a recipe cannot promote straight to
    production with the smoke test turned off (the registry would refuse it after the run
    had packaged it; say so before anything runs)."""
    if deploy.enabled and deploy.promote == "production" and not deploy.smoke:
        issues.add(
            "deploy.smoke",
            "deploy.promote: production needs the smoke test (production serves only "
            "versions that passed it)",
            expected="deploy.smoke: true with promote: production",
            got="false",
            hint="set deploy.smoke: true, or promote to staging and move production later "
            "with `sous promote NAME VERSION --to production`",
        )


def check_cluster(cluster: specs.ClusterSpec, issues: Issues) -> None:
    """``cluster.address`` only to a scheduler the operator allows (or loopback)."""
    if not cluster.address:
        return
    refused = schedulers.refusal(cluster.address)
    if refused is not None:
        message, fix = refused
        issues.add(
            "cluster.address",
            message,
            expected=f"loopback, or an address allowed by ${schedulers.ALLOW_ENV}",
            got=repr(cluster.address),
            hint=fix,
        )
