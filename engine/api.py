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
    reuse_validation: bool = True,
    before_full_validation: Callable[[Any], None] | None = None,
) -> RecipeSpec:
    """Compose and validate a recipe; raises RecipeError listing every problem.
    ``reuse_validation``: a config that validated before, under the same validator code,
    is not checked again (engine/recipe/memo.py); False checks in full."""
    from engine.recipe import load_recipe

    return load_recipe(
        recipe,
        overrides,
        reuse_validation=reuse_validation,
        before_full_validation=before_full_validation,
    )


def config_yaml(
    recipe: str,
    overrides: Sequence[str] = (),
    *,
    which: str = "job",
    resolve: bool = False,
    package: str | None = None,
) -> str:
    """The composed config as YAML, as Hydra's ``--cfg job|hydra|all`` prints it (with
    ``--resolve`` and ``--package``); secrets redacted."""
    from engine.recipe.introspect import config_yaml as text

    return text(recipe, overrides, which=which, resolve=resolve, package=package)


def recipe_info(recipe: str | None = None, overrides: Sequence[str] = ()) -> str:
    """Hydra's ``--info``: search path, recipes found, config groups, the defaults tree."""
    from engine.recipe.introspect import info_text

    return info_text(recipe, overrides)


def catalog() -> Any:
    """Recipes found and config groups with their options (``--help``, completion)."""
    from engine.recipe.introspect import catalog as found

    return found()


def environment() -> dict[str, str]:
    """The variables that make ``bentoml``, ``sous`` and SQL tools see this ``$SOUS_HOME``'s
    stores (``sous env`` prints them as exports)."""
    from engine.home import bentoml_home, db_url, sous_home

    return {
        "SOUS_HOME": str(sous_home()),
        "BENTOML_HOME": str(bentoml_home()),
        "SOUS_DB_URL": db_url(),
    }


def init_project(directory: str, name: str) -> Any:
    """``sous init``: a runnable recipe, its JSON Schema for editors, a .gitignore."""
    from pathlib import Path

    from engine.recipe.scaffold import init_project as scaffold

    return scaffold(Path(directory), name)


def recipes() -> dict[str, str]:
    """Recipe names found (./recipes, $SOUS_RECIPES, Sous's own) and their files."""
    return {name: str(path) for name, path in catalog().recipes.items()}


def static_plan(spec: RecipeSpec) -> tuple[StaticPlan, Compiled]:
    """The plan as far as it is known before running (an adaptive sweep's trials are
    deferred) and which of its nodes are already cached."""
    from engine.execution.compile import compile_plan
    from engine.run.assemble import Assembler
    from engine.run.sources import AtRunTime
    from engine.store.cache import ArtifactCache
    from engine.store.fs import cache_location

    static = Assembler(spec, AtRunTime()).static()  # shown only: no user query runs
    cache = ArtifactCache(cache_location())
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
    profile: bool = False,
) -> dict[str, Any]:
    """Run a recipe end to end; returns the run record in its public JSON form (also stored
    in the runs database). ``starter``: an ``executors.ClusterStarter`` already bringing up
    the local cluster; ``profile``: save Dask's performance report with the run."""
    from engine.run.run import Run

    the_run = Run(
        spec, executor=executor, stream=stream, group_id=group_id, starter=starter, profile=profile
    )
    return the_run.execute().to_json()


def run_recipe(
    recipe: str,
    overrides: Sequence[str] = (),
    *,
    executor: str | None = None,
    profile: bool = False,
) -> tuple[RecipeSpec, dict[str, Any]]:
    """Validate and run a recipe, its local cluster starting while the recipe validates
    (what ``sous run`` does); returns the spec and the run record."""
    from engine.recipe.early import early_start
    from engine.run.early import EarlyCluster

    early = EarlyCluster(executor, profile=profile)

    def start_cluster(cfg: Any) -> None:
        what = early_start(cfg)
        if what is not None:
            early.start(what.cluster, schema_checks=what.schema_checks)

    try:
        spec = validate(
            recipe, overrides, reuse_validation=True, before_full_validation=start_cluster
        )
        return spec, run(spec, executor=executor, starter=early.starter, profile=profile)
    finally:
        early.close()


# -- the run history, the registry and serving: what the CLI (and any client) calls ----------


def runs(
    limit: int = 20,
    *,
    recipe: str | None = None,
    status: str | None = None,
    since: str | None = None,
    where: str | None = None,
) -> list[dict[str, Any]]:
    """The latest runs' records (public JSON), newest first, filtered: ``recipe`` and
    ``status`` exactly, ``since`` a date or an age (7d, 12h), ``where`` metric conditions on
    the winner (``f1>0.9``, comma-separated; ``test.f1`` for a test metric)."""
    from engine.costs import parse_since
    from engine.home import db_url
    from engine.runquery import conditions, matches, started
    from engine.store.runs import RunsDB

    tests = conditions(where) if where else ()
    after = parse_since(since) if since else None
    filtered = recipe or status or after or tests
    found = RunsDB(db_url()).list(limit=1_000_000 if filtered else limit)
    out = [
        r
        for r in found
        if (recipe is None or r.get("recipe") == recipe)
        and (status is None or r.get("status") == status)
        and (after is None or started(r) >= after)
        and matches(r, tests)
    ]
    return out[:limit]


def resolve_run_id(text: str) -> str:
    """The run id that ``text`` names: the whole id, a unique prefix, or (a prefix of) its
    random suffix. Ambiguous text is refused with the candidates listed."""
    from sqlalchemy import or_, select

    from engine.errors import NotFoundError, UserError
    from engine.home import db_url
    from engine.store.runs import RunsDB, runs_table

    db = RunsDB(db_url())
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    col = runs_table.c.run_id
    with db.engine.connect() as conn:
        ids = [
            row[0]
            for row in conn.execute(
                select(col)
                .where(
                    or_(
                        col.like(f"{pattern}%", escape="\\"),
                        col.like(f"%-{pattern}%", escape="\\"),
                    )
                )
                .order_by(runs_table.c.started_at.desc())
            )
        ]
    if text in ids:
        return text
    found = [i for i in ids if i.startswith(text) or i.rsplit("-", 1)[-1].startswith(text)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError(f"no run with id {text!r}", hint="list the runs with `sous runs ls`")
    shown = ", ".join(found[:10]) + (f" and {len(found) - 10} more" if len(found) > 10 else "")
    raise UserError(
        f"run id {text!r} is ambiguous: {len(found)} runs match ({shown})",
        key_path="ID",
        hint="type more of the id, or its random suffix (the last part)",
    )


def run_record(run_id: str | None = None) -> dict[str, Any]:
    """One run's record (public JSON), by any id :func:`run_id` accepts; the last run's
    without one."""
    from engine.home import db_url
    from engine.store.runs import RunsDB

    db = RunsDB(db_url())
    return db.get(resolve_run_id(run_id)) if run_id else db.last()


def compare(ids: Sequence[str]) -> dict[str, Any]:
    """Runs side by side: what differs in their resolved configs, and their metrics."""
    from engine.runquery import compare as diff

    return diff([run_record(i) for i in ids])


def leaderboard(run_id: str | None = None) -> list[dict[str, Any]]:
    """Every trial of a run (the last one by default), or of its whole multirun, best first
    (within a run, tied trials keep the order selection gave them)."""
    from engine.metrics import greater_is_better

    record, records = _group_records(run_id)
    metric = record.get("select_metric")
    board = [
        {"run_id": r["run_id"], "select_metric": r.get("select_metric"), **entry}
        for r in records
        for entry in r.get("leaderboard") or []
    ]
    if metric:
        sign = -1 if greater_is_better(metric) else 1
        board.sort(key=lambda e: sign * (e["metrics"].get(metric) or 0.0))
    return board


def stopped_trials(run_id: str | None = None) -> list[dict[str, Any]]:
    """The trials of a run (or of its multirun) that never reached the leaderboard: those
    successive halving eliminated and those CV pruning stopped, each with the last score
    the search saw and its params (as the run record's ``pruned`` holds them)."""
    from engine.run.record import halving_resource

    return [
        {
            "run_id": r["run_id"],
            "select_metric": r.get("select_metric"),
            "resource": halving_resource(r),
            **entry,
        }
        for r in _group_records(run_id)[1]
        for entry in r.get("pruned") or []
    ]


def _group_records(run_id: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's record (the last run by default), and the records of its multirun (just
    itself outside one)."""
    from engine.home import db_url
    from engine.store.runs import RunsDB

    db = RunsDB(db_url())
    record = run_record(run_id)
    group = db.group_of(record["run_id"])
    return record, db.list(limit=10_000, group_id=group) if group else [record]


def models(name: str) -> list[Any]:
    """A model's versions with their aliases and metrics."""
    from engine.serving import list_versions

    return list(list_versions(name))


def model_names() -> list[str]:
    """Every model in the registry, by name."""
    from engine.store.registry import names

    return sorted(names())


def promote(
    name: str, version: str, alias: str, *, reason: str | None = None, force: bool = False
) -> None:
    """Move ``alias`` (staging, production) of model ``name`` to ``version``; ``reason`` and
    ``force`` (production without a passed smoke test) go to the audit history."""
    from engine.store.registry import Mover
    from engine.store.registry import promote as move

    move(name, version, alias, mover=Mover(reason=reason, force=force))


def rollback(name: str, *, reason: str | None = None) -> str:
    """Production back to the previous version; returns it (``reason`` is audited)."""
    from engine.store.registry import Mover
    from engine.store.registry import rollback as back

    return str(back(name, mover=Mover(reason=reason)))


BUILD_DIR = "build"


def build(target: str, out_dir: str = BUILD_DIR) -> Any:
    """A Bento with its Dockerfile and an exportable archive for ``NAME`` or ``NAME:VERSION``."""
    from pathlib import Path

    from engine.serving import build as make

    name, _, version = target.partition(":")
    return make(name, version or None, out_dir=Path(out_dir))


SERVE_PORT = 3000
SERVE_HOST = "127.0.0.1"


def serve(
    target: str,
    *,
    port: int = SERVE_PORT,
    host: str = SERVE_HOST,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> int:
    """Serve ``target`` (NAME, NAME:VERSION or a Bento tag) in the foreground (HTTPS when
    both TLS files are given)."""
    from engine.serving import serve as run_server

    return run_server(
        target, port=port, host=host, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile
    )


def experiment(target: str, challenger: str, *, mode: str, share: float) -> tuple[str, str]:
    """One Bento routing between the champion (NAME's production version, else staging, or
    NAME:VERSION) and ``challenger``; returns (champion version, Bento tag)."""
    from engine.errors import UserError
    from engine.serving import Experiment, package_experiment
    from engine.store.registry import get_alias

    name, _, champion = target.partition(":")
    champion = champion or get_alias(name, "production") or get_alias(name, "staging") or ""
    if not champion:
        raise UserError(
            f"{name!r} has no production or staging version to be the champion",
            hint=f"name it: sous serve {name}:VERSION --challenger V2",
        )
    packaged = package_experiment(name, Experiment(champion, challenger, mode=mode, share=share))
    return champion, str(packaged.bento_tag)
