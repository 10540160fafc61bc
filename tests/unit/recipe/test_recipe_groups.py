"""Every built-in config group option composes into a valid spec."""

from __future__ import annotations

from typing import Any

import pytest

from engine.recipe import builtin_conf_dir, load_recipe
from engine.recipe.composer import group_options

GROUPS = group_options([builtin_conf_dir()])

# Options that leave a value for the user (???) need it on the command line too.
NEEDS = {
    ("split", "group"): ["split.group='petal width (cm)'"],
    ("split", "time"): ["split.time='sepal length (cm)'"],
    ("cluster", "remote"): ["cluster.address=tcp://127.0.0.1:8786"],
}


def _cases() -> list[Any]:
    cases = []
    for group, options in sorted(GROUPS.items()):
        if group == "source":
            continue
        for option in sorted(options):
            recipe = "diabetes" if (group, option) == ("model", "ridge") else "iris"
            cases.append(pytest.param(recipe, group, option, id=f"{group}={option}"))
    return cases


def test_expected_groups_exist() -> None:
    assert {"source", "split", "model", "deploy", "cluster", "sweep"} <= GROUPS.keys()
    assert {"iris", "wine", "breast_cancer", "diabetes"} <= GROUPS["source"]
    assert {"local", "sync", "remote"} <= GROUPS["cluster"]
    assert {"grid", "random", "optuna"} <= GROUPS["sweep"]
    assert {"bento", "none"} <= GROUPS["deploy"]


@pytest.mark.parametrize(("recipe", "group", "option"), _cases())
def test_every_option_composes(recipe: str, group: str, option: str) -> None:
    overrides = [f"{group}={option}", *NEEDS.get((group, option), [])]
    spec = load_recipe(recipe, overrides)
    if group == "split":
        assert spec.split.kind == option
    elif group == "cluster":
        assert spec.cluster.kind == option
    elif group == "sweep":
        assert spec.sweep is not None and spec.sweep.strategy == option
    elif group == "deploy":
        assert spec.deploy.enabled is (option != "none")
    elif group == "model":
        assert [m.name for m in spec.models] == [option]


@pytest.mark.parametrize("source", sorted(GROUPS["source"]))
def test_every_source_option_is_a_valid_source(source: str) -> None:
    overrides = [f"+source@data.sources.extra={source}"]
    spec = load_recipe("iris", overrides)
    extra = next(s for s in spec.data.sources if s.name == "extra")
    assert (extra.kind, extra.options["name"]) == ("sklearn", source)
