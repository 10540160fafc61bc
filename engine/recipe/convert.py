"""Composed config -> :class:`~engine.specs.RecipeSpec`, validating everything at once."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from engine import specs
from engine.errors import RecipeError
from engine.recipe import guard, keys, sections, targets, trust
from engine.recipe import monitor as monitor_section
from engine.recipe import stream as stream_sections
from engine.recipe.data import convert_data, convert_schema
from engine.recipe.models import convert_models, imbalance_spec
from engine.recipe.plain import to_plain
from engine.recipe.problems import Issues, Section
from engine.security.redact import redact_config

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def to_spec(cfg: Any, *, source_file: str | None = None) -> specs.RecipeSpec:
    """The frozen spec of a composed recipe; one RecipeError lists every problem found."""
    issues = Issues(file=source_file, lines=_lines(source_file))
    plain = to_plain(cfg, issues)
    base_dir = Path(source_file).resolve().parent if source_file else Path.cwd()
    spec = build(plain, base_dir, issues, source_file)
    if spec is None or issues.problems:
        raise RecipeError(issues.problems, recipe=source_file)
    redacted = redact_config(plain, unresolved(cfg))  # what records keep: no secrets
    return dataclasses.replace(spec, resolved=specs.frozen_map(redacted))


def unresolved(cfg: Any) -> Any:
    """The config with its ``${...}`` interpolations as written (None for plain data)."""
    from omegaconf import DictConfig, OmegaConf

    if not isinstance(cfg, DictConfig):
        return None
    return OmegaConf.to_container(cfg, resolve=False)


def _lines(source_file: str | None) -> dict[str, int]:
    """Line of each key in the recipe file (best effort: messages only)."""
    if not source_file or not Path(source_file).is_file():
        return {}
    from engine.recipe.yamlfile import read_recipe_file

    try:
        return read_recipe_file(Path(source_file)).lines
    except RecipeError:
        return {}


def build(
    plain: Any, base_dir: Path, issues: Issues, source_file: str | None = None
) -> specs.RecipeSpec | None:
    """Read every section (recording problems); the spec, or None if anything was wrong."""
    top = Section(issues, plain, "", keys.TOP_LEVEL)
    name = top.text("name", required=True)
    if name is not None and not NAME.match(name):
        issues.wrong(
            "name", name, "letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    task = top.text("task", required=True, choices=specs.TASKS)
    target = top.text("target", required=True)
    issues.problems += guard.security_section(top.data, issues.lines, issues.file)
    allow = targets.allowlist()
    targets.check_all_targets(top.data, "", issues, allow)
    data = convert_data(top, base_dir, issues)
    _check_target_column(target, data, issues)
    _check_masked_features(target, data, issues)
    seed = top.integer("seed", 0, minimum=0)
    schema = convert_schema(top, issues)
    split = sections.split_spec(top, task, issues)
    cv = sections.cv_spec(top, task, issues)
    preprocess = sections.preprocess_spec(top, issues)
    imbalance = imbalance_spec(top.mapping("imbalance", keys.IMBALANCE), task, issues)
    sweep = sections.sweep_spec(top, issues)
    models = convert_models(top, task, allow, issues, sweep)
    select = sections.select_spec(top, task, issues)
    deploy = sections.deploy_spec(top, name, issues)
    cluster = sections.cluster_spec(top, issues)
    trust.check_deploy(deploy, issues)  # production needs a smoke test (issue 11)
    trust.check_cluster(cluster, issues)  # the scheduler from the operator's allowlist
    cost = sections.cost_spec(top, issues)
    features, data = stream_sections.convert_features(top, data, issues)
    stream = stream_sections.convert_stream(top, deploy.bento.name, base_dir, issues)
    monitor = monitor_section.monitor_spec(top, issues)
    if issues.problems or name is None or task is None or target is None:
        return None
    return specs.RecipeSpec(
        name=name,
        task=task,
        target=target,
        data=data,
        models=models,
        select=select,
        deploy=deploy,
        seed=seed,
        schema=schema,
        split=split,
        cv=cv,
        preprocess=preprocess,
        imbalance=imbalance,
        sweep=sweep,
        cluster=cluster,
        cost=cost,
        source_file=source_file,
        resolved=specs.frozen_map(plain),
        features=features,
        stream=stream,
        monitor=monitor,
    )


def _check_target_column(target: str | None, data: specs.DataSpec, issues: Issues) -> None:
    """The target must stay out of the features: a model that sees it scores perfectly."""
    if target is None:
        return
    for key, cols in (("features", data.features), ("drop", data.drop)):
        if target in cols:
            issues.add(
                f"data.{key}",
                f"the target column {target!r} cannot be listed in data.{key}",
                expected="feature columns only",
                got=repr(target),
                hint=f"remove {target!r} from data.{key}",
            )


def _check_masked_features(target: str | None, data: specs.DataSpec, issues: Issues) -> None:
    """A hashed or redacted column cannot be a model input: the server masks the raw values
    it receives, so a model trained on masked values would see them masked twice."""
    for column, how in data.pii.items():
        if how not in ("hash", "redact") or column == target:
            continue
        used = column in data.features if data.features else column not in data.drop
        if used:
            issues.add(
                f"data.pii.{column}",
                f"the {how}ed PII column {column!r} would be a model feature",
                expected="masked columns kept out of the features",
                got=f"{column!r} among the features",
                hint=f"add {column!r} to data.drop (it stays in the data, e.g. as a join key), "
                "or mask it with `drop`",
            )
