"""Retraining: rerun the recipe that produced a version, through the public API.

The version's labels name its run; the run record names the recipe file. The recipe is
validated and run again (``engine.api.validate`` + ``engine.api.run``): sources are
fingerprinted afresh, so steps whose data did not change come from the cache, and the
challenger goes through the recipe's gates (``">= production + x"`` included), the smoke
test, and is promoted to ``staging`` -- never further: production stays a human's (or a
rule's) decision after ``sous monitor --compare``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from engine.errors import UserError

PROMOTE_TO = "staging"


def recipe_of(name: str, version: str | None = None) -> tuple[str, dict[str, Any], str]:
    """(recipe path or name, the recorded resolved config, the version) of ``name``."""
    from engine.errors import NotFoundError
    from engine.home import db_url
    from engine.monitor.locate import locate
    from engine.store.runs import RunsDB

    target = locate(name, version)
    run_id = target.labels.get("run_id")
    record: dict[str, Any] = {}
    if run_id:
        try:
            record = RunsDB(db_url()).get(run_id)
        except NotFoundError:
            record = {}
    recipe = record.get("recipe_file") or target.labels.get("recipe")
    if recipe and record.get("recipe_file") and not Path(recipe).is_file():
        recipe = target.labels.get("recipe") or recipe
    if not recipe:
        raise UserError(
            f"{name}:{target.version} does not say which recipe produced it",
            hint="run the recipe yourself: `sous run RECIPE`",
        )
    return str(recipe), dict(record.get("config") or {}), target.version


def changed_sections(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Top-level recipe sections that differ from the recorded run's resolved config."""
    return sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))


def retrain(
    name: str,
    *,
    version: str | None = None,
    overrides: Sequence[str] = (),
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Run the recipe again (with ``overrides``); returns the new run record, with
    ``retrain_of`` added (also stored in the runs database)."""
    from engine import api
    from engine.specs import thaw

    recipe, recorded, of_version = recipe_of(name, version)
    spec = api.validate(recipe, list(overrides))
    changed = changed_sections(recorded, thaw(spec.resolved)) if recorded else []
    if stream is not None:
        print(f"retraining {name} (from version {of_version}) with recipe {recipe}", file=stream)
        if changed:
            print(f"note: the recipe changed since that run: {', '.join(changed)}", file=stream)
    deploy = dataclasses.replace(spec.deploy, promote=PROMOTE_TO)
    record = api.run(dataclasses.replace(spec, deploy=deploy), stream=stream)
    record["retrain_of"] = {"model": name, "version": of_version, "changed": changed}
    _store(record)
    return record


def _store(record: dict[str, Any]) -> None:
    """Keep ``retrain_of`` in the run record (``sous runs show ID``)."""
    from engine.home import db_url
    from engine.store.runs import RunsDB

    RunsDB(db_url()).finish(record)
