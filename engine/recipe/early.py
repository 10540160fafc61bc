"""What a run's cluster can start on before the recipe is validated: its ``cluster``
section, read by the same code validation reads it with (so the early cluster is the one
the run will ask for and is taken over, not stopped for a mismatch), and whether the
``schema`` declares checks (the warm server then imports pandera for the validate step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine import specs
from engine.recipe import sections
from engine.recipe.plain import to_plain
from engine.recipe.problems import Issues, Section


@dataclass(frozen=True)
class EarlyStart:
    cluster: specs.ClusterSpec
    schema_checks: bool


def early_start(cfg: Any) -> EarlyStart | None:
    """The local cluster ``cfg`` (composed, not yet validated) asks for, or None: another
    kind of cluster, or a cluster section with a problem (validation reports it)."""
    issues = Issues()
    plain = to_plain({"cluster": cfg.get("cluster")}, issues)
    cluster = sections.cluster_spec(Section(issues, plain, ""), issues)
    if issues.problems or cluster.kind != "local":
        return None
    return EarlyStart(cluster, declares_checks(to_plain(cfg.get("schema"), issues)))


def declares_checks(schema: Any) -> bool:
    """Whether an unvalidated ``schema`` may ask for pandera's checks, as
    :attr:`engine.specs.SchemaSpec.checks_anything` reads the validated one; anything
    unreadable counts as yes (the workers then import it ahead, as before)."""
    if schema is None:
        return False
    try:
        return any(schema.get(key) for key in specs.SCHEMA_CHECK_KEYS)
    except (AttributeError, TypeError):
        return True
