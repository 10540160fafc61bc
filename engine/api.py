"""The programmatic face of Sous: validate, plan, run. Assembly only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from engine.specs import RecipeSpec

if TYPE_CHECKING:
    from engine.execution.compile import Compiled
    from engine.run.assemble import StaticPlan


def validate(
    recipe: str,
    overrides: Sequence[str] = (),
    *,
    reuse_validation: bool = False,
    before_full_validation: Callable[[Any], None] | None = None,
) -> RecipeSpec:
    """Compose and validate a recipe; raises RecipeError listing every problem.
    ``reuse_validation`` skips the checks of a config that validated before (runs)."""
    from engine.recipe import load_recipe

    return load_recipe(
        recipe,
        overrides,
        reuse_validation=reuse_validation,
        before_full_validation=before_full_validation,
    )


def static_plan(spec: RecipeSpec) -> tuple[StaticPlan, Compiled]:
    """The plan as far as it is known before running (an adaptive sweep's trials are
    deferred) and which of its nodes are already cached."""
    from engine.execution.compile import compile_plan
    from engine.home import cache_dir
    from engine.run.assemble import Assembler
    from engine.store.cache import ArtifactCache

    static = Assembler(spec).static()
    cache = ArtifactCache(cache_dir())
    return static, compile_plan(static.plan, cache, static.plan.outputs.values())


def plan(spec: RecipeSpec) -> tuple[Any, Compiled]:
    """The plan of a recipe and which of its nodes are already cached."""
    static, compiled = static_plan(spec)
    return static.plan, compiled


def run(
    spec: RecipeSpec,
    *,
    executor: str | None = None,
    stream: TextIO | None = None,
    group_id: str | None = None,
    starter: Any = None,
) -> dict[str, Any]:
    """Run a recipe end to end; returns the run record in its public JSON form (also stored
    in the runs database). ``starter``: an ``executors.ClusterStarter`` already bringing up
    the local cluster."""
    from engine.run.run import Run

    the_run = Run(spec, executor=executor, stream=stream, group_id=group_id, starter=starter)
    return the_run.execute().to_json()
