"""One bad-recipe fixture per error path: the RecipeError's problems, asserted on fields."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import Problem, RecipeError
from engine.recipe import load_recipe, validate_recipe

BAD = Path(__file__).parent / "bad_recipes"


def problems_of(recipe: str | Path, overrides: tuple[str, ...] = ()) -> tuple[Problem, ...]:
    with pytest.raises(RecipeError) as info:
        load_recipe(str(recipe), overrides)
    assert info.value.user_error and info.value.exit_code == 2
    return info.value.problems


CASES = [
    # fixture, expected key paths, (field, substring) of the first problem
    pytest.param(
        "unknown_key", ["split.tset_size"], ("hint", "did you mean 'test_size'"), id="unknown-key"
    ),
    pytest.param(
        "wrong_type",
        ["seed", "split.test_size", "cluster.workers"],
        ("got", "1.5 (float)"),
        id="wrong-types",
    ),
    pytest.param("missing_required", ["target"], ("message", "missing"), id="missing-???"),
    pytest.param(
        "unknown_task", ["task"], ("hint", "did you mean 'classification'"), id="unknown-task"
    ),
    pytest.param(
        "bad_param_name",
        ["models.rf.n_estimator"],
        ("hint", "did you mean 'n_estimators'"),
        id="estimator-param-name",
    ),
    pytest.param(
        "bad_param_value",
        ["models.rf.n_estimators"],
        ("message", "The 'n_estimators' parameter of RandomForestClassifier must be an int"),
        id="estimator-param-value",
    ),
    pytest.param("malformed", [""], ("message", "malformed YAML at line 7"), id="malformed-yaml"),
    pytest.param("not_a_mapping", [""], ("expected", "a mapping"), id="not-a-mapping"),
    pytest.param(
        "os_system", ["models.evil._target_"], ("message", "not allowed"), id="os-system-refused"
    ),
    pytest.param(
        "sklearn_os_detour",
        ["models.evil._target_"],
        ("message", "private"),
        id="allowed-prefix-detour-to-os-refused",
    ),
    pytest.param(
        "task_mismatch",
        ["models.rf._target_"],
        ("message", "is a regressor but the recipe's task is classification"),
        id="regressor-in-classification",
    ),
    pytest.param(
        "interpolation", ["target"], ("message", "cannot resolve value"), id="interpolation"
    ),
    pytest.param(
        "bad_sources",
        [
            "data.sources.customers.path",
            "data.sources.plans.query",
            "data.sources.bundled.name",
            "data.sources.events.kind",
            "data.integrate[0].how",
            "data.integrate[0]",
            "data.integrate[1]",
        ],
        ("message", "missing required value"),
        id="sources-and-integrate",
    ),
    pytest.param(
        "bad_select",
        ["split.valid_size", "select.metric", "select.gates.r2", "select.gates.accuracy"],
        ("hint", "lower test_size or valid_size"),
        id="select-gates-split-by-task",
    ),
    pytest.param(
        "three_errors",
        ["split.test_size", "models.rf.max_depht", "select.metrik"],
        ("expected", "a number in (0, 1)"),
        id="all-problems-at-once",
    ),
]


@pytest.mark.parametrize(("fixture", "key_paths", "field_check"), CASES)
def test_bad_recipe_reports_its_problems(
    fixture: str, key_paths: list[str], field_check: tuple[str, str]
) -> None:
    problems = problems_of(BAD / f"{fixture}.yaml")
    assert [p.key_path for p in problems] == key_paths
    field, text = field_check
    assert text in (getattr(problems[0], field) or "")
    assert all(p.file == str(BAD / f"{fixture}.yaml") for p in problems)
    assert all(p.line is not None for p in problems)


def test_malformed_yaml_points_at_the_line() -> None:
    (problem,) = problems_of(BAD / "malformed.yaml")
    assert problem.line == 7
    assert "malformed.yaml:7" in problem.render()


def test_lines_point_at_the_key() -> None:
    problems = problems_of(BAD / "three_errors.yaml")
    assert [p.line for p in problems] == [8, 14, 10]


def test_three_problems_in_one_message() -> None:
    with pytest.raises(RecipeError) as info:
        validate_recipe(str(BAD / "three_errors.yaml"))
    text = str(info.value)
    assert "3 problems" in text
    for key in ("split.test_size", "models.rf.max_depht", "select.metrik"):
        assert key in text


def test_refused_target_is_never_imported(
    tmp_path: Path, write_recipe: Callable[..., Path]
) -> None:
    """Validation must not run code: a module outside the allowlist is not even imported."""
    pkg = tmp_path / "sous_evil_pkg"
    pkg.mkdir()
    marker = tmp_path / "imported"
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Model: pass\n")
    path = write_recipe(
        """
        name: evil
        task: classification
        target: target
        data: {sources: {iris: {kind: sklearn, name: iris}}}
        models: {m: {_target_: sous_evil_pkg.Model}}
        """
    )
    sys.path.insert(0, str(tmp_path))
    try:
        (problem,) = problems_of(path)
    finally:
        sys.path.remove(str(tmp_path))
    assert problem.key_path == "models.m._target_"
    assert "SOUS_ALLOW_TARGETS" in (problem.hint or "")
    assert not marker.exists()


OVERRIDE_CASES = [
    pytest.param(
        ("split=stratifed",),
        "split=stratifed",
        ("hint", "did you mean 'stratified'"),
        id="unknown-group-option",
    ),
    pytest.param(
        ("cluster=remot",),
        "cluster=remot",
        ("expected", "local, remote, sync"),
        id="options-listed",
    ),
    pytest.param(
        ("split.test_size=[",), "split.test_size=[", ("message", "cannot parse"), id="unparsable"
    ),
    pytest.param(
        ("split.tset_size=0.3",),
        "split.tset_size=0.3",
        ("hint", "did you mean 'test_size'"),
        id="unknown-key-override",
    ),
    pytest.param(
        ("model=rf,logreg",), "model=rf,logreg", ("hint", "-m model=rf,logreg"), id="sweep-needs-m"
    ),
    pytest.param(
        ("split.test_size=abc",), "split.test_size", ("hint", "command line"), id="wrong-type"
    ),
    pytest.param(("model=ridge",), "model", ("message", "no classification variant"), id="model"),
    pytest.param(
        ("cluster=remote",), "cluster.address", ("message", "missing"), id="remote-needs-address"
    ),
]


@pytest.mark.parametrize(("overrides", "key_path", "field_check"), OVERRIDE_CASES)
def test_bad_override_is_reported_at_the_override(
    overrides: tuple[str, ...], key_path: str, field_check: tuple[str, str]
) -> None:
    (problem,) = problems_of("iris", overrides)
    assert problem.key_path == key_path
    field, text = field_check
    assert text in (getattr(problem, field) or "")
    assert problem.line is None  # a command-line value has no line in the file


def test_override_and_recipe_problems_are_listed_together() -> None:
    """Hydra stops at its first bad override; validation goes on to list all of them."""
    problems = problems_of(
        "iris", ("split=rnd", "split.tset_size=0.3", "cluster.wrokers=3", "seed=1.5")
    )
    assert [p.key_path for p in problems] == [
        "split=rnd",
        "split.tset_size=0.3",
        "cluster.wrokers=3",
        "seed",
    ]
    assert "unknown key 'cluster.wrokers'" in problems[2].message
    assert "did you mean 'workers'" in (problems[2].hint or "")
