"""``sous run RECIPE -m ...``: a Hydra multirun of a recipe, its jobs in parallel on Dask.

The recipe file is Hydra's primary config with the built-in groups on the search path (the
same preparation as :func:`engine.recipe.compose`, sweep values checked one by one), and
``hydra/launcher=dask`` is the default launcher. Each job converts its config to a
:class:`~engine.specs.RecipeSpec` and runs it with :func:`engine.api.run` inside a Dask worker,
where the executor submits its steps to the same scheduler: identical upstream nodes of
different jobs get identical keys and run once. Jobs do not package; when all are done the
best job is rerun with deployment on -- every step of it is cached, so only the winner is
packaged, once. All runs share a group id: ``sous runs leaderboard RUN_ID`` shows them all.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from engine.errors import Problem, RecipeError, SousError
from engine.specs import ClusterSpec

DEFAULT_LAUNCHER = "dask"
# The launcher follows the recipe's cluster section: the same scheduler, or a LocalCluster of
# the same workers (the jobs' steps run on it too, so it must offer cluster.resources).
CLUSTER_OVERRIDES = (
    "hydra.launcher.address=${oc.select:cluster.address,null}",
    f"hydra.launcher.n_workers=${{oc.select:cluster.workers,{ClusterSpec.workers}}}",
    "hydra.launcher.threads_per_worker="
    f"${{oc.select:cluster.threads_per_worker,{ClusterSpec.threads_per_worker}}}",
    "hydra.launcher.memory_limit=${oc.select:cluster.memory_limit,null}",
    "hydra.launcher.worker_resources=${oc.select:cluster.resources,null}",
)


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What a job hands back to the driver (plain data: it travels from a Dask worker)."""

    num: int
    overrides: tuple[str, ...]
    run_id: str | None
    status: str  # succeeded | failed
    model: str | None = None
    metric: str | None = None
    score: float | None = None
    greater_is_better: bool = True
    error: str | None = None


def multirun(recipe: str, overrides: Sequence[str], *, stream: TextIO | None = None) -> int:
    """Run every job of the sweep; package the best one once. 0 if all jobs succeeded."""
    from engine.home import sous_home
    from engine.store.runs import new_run_id

    out = stream or sys.stdout
    path, hydra_overrides = hydra_overrides_for_multirun(recipe, overrides)
    from engine.recipe.jobs import validate_jobs  # issue 11 (H2): a bad job is exit 2

    validate_jobs(recipe, overrides)  # every job's config, before a cluster starts
    group = "mr-" + new_run_id()
    sweep_dir = sous_home() / "multirun" / group
    task = functools.partial(run_job, source_file=str(path), group_id=group)
    returns = _hydra_multirun(path, task, [*hydra_overrides, *_defaults(overrides, sweep_dir)])
    results = _collect(returns)
    print(_summary(results, group, output_dir(returns, sweep_dir)), file=out)
    winner = best(results)
    if winner is not None:
        _package_winner(path, returns, winner, out)
    return 0 if results and all(r.status == "succeeded" for r in results) else 1


def run_job(cfg: Any, *, source_file: str, group_id: str) -> dict[str, Any]:
    """The Hydra task function: one job = one recipe run, without packaging."""
    from hydra.core.hydra_config import HydraConfig

    from engine import api
    from engine.recipe import to_spec

    job = HydraConfig.get().job
    overrides = tuple(HydraConfig.get().overrides.task)
    try:
        spec = to_spec(cfg, source_file=source_file)
        spec = dataclasses.replace(spec, deploy=dataclasses.replace(spec.deploy, enabled=False))
        record = api.run(spec, group_id=group_id)
    except Exception as exc:  # reported with the other jobs; the sweep goes on
        message = str(exc) if isinstance(exc, SousError) else f"{type(exc).__name__}: {exc}"
        return dataclasses.asdict(JobResult(job.num, overrides, None, "failed", error=message))
    return dataclasses.asdict(_result(job.num, overrides, record, spec.select.greater_is_better))


def _result(
    num: int, overrides: tuple[str, ...], record: Mapping[str, Any], gib: bool
) -> JobResult:
    winner = record.get("winner") or {}
    metric = record.get("select_metric")
    score = (winner.get("metrics") or {}).get(metric) if metric else None
    return JobResult(
        num,
        overrides,
        record.get("run_id"),
        str(record.get("status", "succeeded")),
        winner.get("model"),
        metric,
        None if score is None else float(score),
        gib,
    )


def best(results: Sequence[JobResult]) -> JobResult | None:
    """The succeeded job with the best selection score (validation, not test)."""
    scored = [(r.score, r) for r in results if r.status == "succeeded" and r.score is not None]
    if not scored:
        return None
    sign = 1.0 if scored[0][1].greater_is_better else -1.0
    return max(scored, key=lambda sr: sign * sr[0])[1]


# ------------------------------------------------------------------ overrides


def hydra_overrides_for_multirun(recipe: str, overrides: Sequence[str]) -> tuple[Path, list[str]]:
    """Like the recipe layer's preparation, but sweep overrides are allowed: each value of a
    sweep is checked (and translated, e.g. ``split=a,b`` -> ``+split=a,b``) on its own."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from engine.recipe.composer import hydra_overrides_for

    parser = OverridesParser.create()
    plain: list[str] = []
    sweeps: list[tuple[str, Any]] = []
    for text in overrides:
        parsed = _parse(parser, text)
        if parsed is not None and parsed.is_sweep_override() and not parsed.is_hydra_override():
            sweeps.append((text, parsed))
        else:
            plain.append(text)
    path, prepared = hydra_overrides_for(recipe, plain)
    problems: list[Problem] = []
    translated = [_translate_sweep(recipe, text, o, problems) for text, o in sweeps]
    if problems:
        raise RecipeError(problems, recipe=str(path))
    return path, [*prepared, *translated]


def _parse(parser: Any, text: str) -> Any:
    from hydra.errors import OverrideParseException

    try:
        (parsed,) = parser.parse_overrides([text])
    except OverrideParseException:
        return None  # hydra_overrides_for reports it with the other problems
    return parsed


def _translate_sweep(recipe: str, text: str, override: Any, problems: list[Problem]) -> str:
    from engine.recipe.composer import hydra_overrides_for

    if not override.is_discrete_sweep():
        return text  # interval(...) for a sweeper: a plain key, Hydra checks it
    key = override.get_key_element()
    keys, values = set(), []
    for value in override.sweep_string_iterator():
        try:
            _, (single, *_) = hydra_overrides_for(recipe, [f"{key}={value}"])
        except RecipeError as exc:
            problems.extend(dataclasses.replace(p, key_path=text) for p in exc.problems)
            continue
        k, _, v = single.partition("=")
        keys.add(k)
        values.append(v)
    if len(keys) > 1:
        problems.append(
            Problem(text, "these values cannot be swept together", hint="split the sweep in two")
        )
    return f"{keys.pop() if keys else key}={','.join(values)}"


def _defaults(overrides: Sequence[str], sweep_dir: Path) -> list[str]:
    """Sous's multirun defaults, each unless the user set it."""
    given = {o.lstrip("+~").split("=", 1)[0] for o in overrides}
    out = []
    if "hydra/launcher" not in given:
        out.append(f"hydra/launcher={DEFAULT_LAUNCHER}")
        out += [o for o in CLUSTER_OVERRIDES if o.split("=", 1)[0] not in given]
    if "hydra.sweep.dir" not in given:
        out.append(f"hydra.sweep.dir={sweep_dir}")
    if "hydra.sweep.subdir" not in given:
        out.append("hydra.sweep.subdir=${hydra.job.num}")
    return out


def output_dirs(overrides: Sequence[str]) -> dict[str, str]:
    """Where Sous writes, under Hydra's keys (what ``--cfg hydra`` shows): a single run in
    ``$SOUS_HOME/runs/RUN_ID`` (Hydra's run directory is not used, and ``hydra.run.*`` is
    refused), a multirun's jobs under ``hydra.sweep.dir`` (Sous's default unless set)."""
    import os

    home = Path(os.environ.get("SOUS_HOME", ".sous")).expanduser().resolve()  # not created
    dirs = {"hydra.run.dir": str(home / "runs" / "RUN_ID")}
    for override in _defaults(overrides, home / "multirun" / "mr-RUN_ID"):
        key, _, value = override.partition("=")
        if key.startswith("hydra.sweep."):
            dirs[key] = value
    return dirs


OUTPUT_NOTE = (
    "# Sous: a run writes to $SOUS_HOME/runs/RUN_ID (hydra.run.dir shows it; overriding it is\n"
    "# refused), a multirun's jobs to hydra.sweep.dir/hydra.sweep.subdir; RUN_ID is made at launch\n"
)


def with_output_dirs(text: str, overrides: Sequence[str], package: str | None) -> str:
    """``--cfg hydra|all`` output (YAML, maybe one ``--package``) with Hydra's output keys set
    to the directories Sous uses (:func:`output_dirs`), and a note saying so."""
    from omegaconf import OmegaConf

    dirs = output_dirs(overrides)
    if package in dirs:
        return f"# @package {package}\n{dirs[package]}\n" + OUTPUT_NOTE
    prefix = f"{package}." if package else ""
    relative = {k.removeprefix(prefix): v for k, v in dirs.items() if k.startswith(prefix)}
    body = text.split("\n", 1)[1] if package else text
    node = OmegaConf.create(body) if relative else None
    if node is None or not OmegaConf.is_dict(node):
        return text
    for key, value in relative.items():
        OmegaConf.update(node, key, value, force_add=True)
    header = f"# @package {package}\n" if package else ""
    return header + OmegaConf.to_yaml(node) + OUTPUT_NOTE


# ------------------------------------------------------------------ Hydra


def _hydra_multirun(path: Path, task: Any, overrides: list[str]) -> list[Any]:
    """Hydra's own multirun (sweeper + launcher), the recipe file as primary config."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from engine.recipe.composer import _composition_problem, _culprit
    from engine.recipe.guard import check_before_multirun

    previous = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]  # Hydra reconfigures the root logger
    try:
        with initialize_config_dir(
            config_dir=str(path.parent), job_name="sous", version_base="1.3"
        ):
            hydra = GlobalHydra.instance().hydra
            if hydra is None:
                raise RuntimeError("Hydra did not initialise")
            check_before_multirun(hydra, path, overrides)  # no callback or plugin runs first
            returns = hydra.multirun(config_name=path.stem, task_function=task, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        # a sweep value that composes alone but not in Hydra's sweep: the user's input
        text = str(exc).strip() or type(exc).__name__
        problem = _composition_problem(path, text, _culprit(text, overrides))
        raise RecipeError([problem], recipe=str(path)) from None
    finally:
        GlobalHydra.instance().hydra = previous
        root.setLevel(level)
        root.handlers[:] = handlers
    return [r for batch in returns for r in batch]


def _collect(returns: Sequence[Any]) -> list[JobResult]:
    from hydra.core.utils import JobStatus

    out = []
    for i, r in enumerate(returns):
        if r.status == JobStatus.COMPLETED and isinstance(r.return_value, Mapping):
            data = dict(r.return_value)
            out.append(JobResult(**{**data, "overrides": tuple(data["overrides"])}))
        else:
            error = repr(getattr(r, "_return_value", None))
            out.append(JobResult(i, tuple(r.overrides or ()), None, "failed", error=error))
    return out


def output_dir(returns: Sequence[Any], default: Path) -> Path:
    """Where the jobs' outputs went, as Hydra resolved it (``hydra.sweep.dir`` from the user
    or Sous's default): the folder holding every job's output directory."""
    import os

    dirs = []
    for r in returns:
        try:
            dirs.append(Path(str(r.hydra_cfg.hydra.runtime.output_dir)).parent)
        except AttributeError:  # a job that failed before Hydra set it up
            continue
    return Path(os.path.commonpath(dirs)) if dirs else default


def _summary(results: Sequence[JobResult], group: str, sweep_dir: Path) -> str:
    lines = [f"multirun {group}: {len(results)} job(s); outputs in {sweep_dir}"]
    for r in results:
        what = " ".join(r.overrides) or "(no overrides)"
        if r.status == "succeeded":
            lines.append(f"  #{r.num} {what}: run {r.run_id} winner {r.model} {r.metric}={r.score}")
        else:
            error = (r.error or "").replace("\n", "\n      ")
            lines.append(f"  #{r.num} {what}: FAILED {error}")
    if results and results[0].run_id:
        lines.append(f"leaderboard: sous runs leaderboard {results[0].run_id}")
    return "\n".join(lines)


def _package_winner(path: Path, returns: Sequence[Any], winner: JobResult, out: TextIO) -> None:
    """Rerun the best job with deployment on: its steps are cached, only packaging runs."""
    from engine import api
    from engine.recipe import to_spec

    cfg = next(r.cfg for r in returns if _num(r) == winner.num)
    spec = to_spec(cfg, source_file=str(path))
    if not spec.deploy.enabled:
        print(
            f"best job #{winner.num} (run {winner.run_id}); deploy is off: not packaged", file=out
        )
        return
    record = api.run(spec)
    print(
        f"best job #{winner.num}: packaged as {record.get('bento')} (run {record['run_id']})",
        file=out,
    )


def _num(ret: Any) -> int | None:
    """The job number a completed job reported (a failed job's return value would raise)."""
    from hydra.core.utils import JobStatus

    if ret.status != JobStatus.COMPLETED or not isinstance(ret.return_value, Mapping):
        return None
    num = ret.return_value.get("num")
    return int(num) if num is not None else None
