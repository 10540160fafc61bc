"""Schema checks from YAML, the three policies, quarantine reasons and user errors."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from engine.errors import DataValidationError, RecipeError, UserError
from engine.specs import ColumnSpec, SchemaSpec, frozen_map
from engine.validation import CheckRegistry, builtin_checks, schema_problems, validate_frame


def col(name: str, **kw: Any) -> ColumnSpec:
    checks = frozen_map(kw.pop("checks", {}))
    return ColumnSpec(name=name, checks=checks, **kw)


def schema(*columns: ColumnSpec, on_failure: str = "quarantine", **kw: Any) -> SchemaSpec:
    if "checks" in kw:
        kw["checks"] = frozen_map(kw["checks"])
    return SchemaSpec(on_failure=on_failure, columns=columns, **kw)  # type: ignore[arg-type]


FRAME = pd.DataFrame(
    {
        "age": [25, -3, 130, 40, 60],
        "plan": ["basic", "pro", "gold", "basic", None],
        "email": ["a@x.io", "bad", "c@x.io", "d@x.io", "e@x.io"],
        "code": ["AB1", "AB22", "A", "AB3", "AB4"],
        "y": [0, 1, 0, 1, 0],
    }
)


@pytest.mark.parametrize(
    ("column", "bad_rows"),
    [
        pytest.param(col("age", checks={"ge": 0}), {1}, id="ge"),
        pytest.param(col("age", checks={"gt": 25}), {0, 1}, id="gt"),
        pytest.param(col("age", checks={"le": 120}), {2}, id="le"),
        pytest.param(col("age", checks={"lt": 60}), {2, 4}, id="lt"),
        pytest.param(
            col("age", checks={"in_range": {"min": 0, "max": 120}}), {1, 2}, id="in_range-map"
        ),
        pytest.param(col("age", checks={"in_range": [0, 50]}), {1, 2, 4}, id="in_range-list"),
        pytest.param(col("plan", checks={"isin": ["basic", "pro"]}), {2}, id="isin"),
        pytest.param(col("plan", checks={"notin": ["gold"]}), {2}, id="notin"),
        pytest.param(col("email", checks={"regex": r"[^@]+@[^@]+"}), {1}, id="regex"),
        pytest.param(col("email", checks={"str_matches": r"[a-e]@"}), {1}, id="str_matches"),
        pytest.param(
            col("code", checks={"str_length": {"min": 2, "max": 3}}), {1, 2}, id="str_length"
        ),
        pytest.param(col("code", checks={"str_length": 3}), {1, 2}, id="str_length-exact"),
        pytest.param(col("email", checks={"custom": "email"}), {1}, id="custom-builtin"),
        pytest.param(col("plan", nullable=False), {4}, id="nullable"),
        pytest.param(col("plan", unique=True), {3}, id="unique-keeps-first"),
        pytest.param(col("age", dtype="int64"), set(), id="dtype-ok"),
    ],
)
def test_each_column_check_quarantines_exactly_the_failing_rows(
    column: ColumnSpec, bad_rows: set[int]
) -> None:
    res = validate_frame(FRAME, schema(column), target="y")
    assert set(res.quarantine.index) == bad_rows
    assert len(res.frame) == len(FRAME) - len(bad_rows)
    assert all(res.quarantine["_failed_checks"].str.startswith(f"{column.name}:"))


def test_quarantine_lists_every_failed_check_per_row() -> None:
    spec = schema(
        col("age", checks={"ge": 0, "lt": 100}), col("plan", checks={"isin": ["basic", "pro"]})
    )
    frame = FRAME.assign(plan=["basic", "gold", "gold", "basic", "pro"])
    res = validate_frame(frame, spec, target="y")
    reasons = dict(zip(res.quarantine.index, res.quarantine["_failed_checks"], strict=True))
    assert reasons == {
        1: "age:ge(0); plan:isin(['basic', 'pro'])",
        2: "age:lt(100); plan:isin(['basic', 'pro'])",
    }
    assert list(res.quarantine.columns) == [*frame.columns, "_failed_checks"]
    arts = res.artifacts()
    assert set(arts) == {"quarantine", "failures"}
    assert len(arts["failures"]) == 4  # one row per (row, check)


def test_target_null_is_always_quarantined_even_under_fail() -> None:
    frame = FRAME.assign(y=[0, None, 1, None, 0])
    res = validate_frame(frame, schema(on_failure="fail"), target="y")
    assert res.quarantine.index.tolist() == [1, 3]
    assert set(res.quarantine["_failed_checks"]) == {"y:target is null"}
    assert len(res.frame) == 3
    assert res.failures[0].check == "target is null" and res.failures[0].failed_rows == 2


def test_fail_policy_raises_with_all_failures_and_capped_examples() -> None:
    frame = pd.DataFrame({"a": [*range(-20, 0), 1], "b": ["x"] * 20 + ["zz"], "y": [0] * 21})
    spec = schema(
        col("a", checks={"ge": 0}),
        col("b", checks={"isin": ["x"]}),
        on_failure="fail",
        max_examples=3,
    )
    with pytest.raises(DataValidationError) as err:
        validate_frame(frame, spec, target="y")
    failures = {(f.column, f.check): f for f in err.value.failures}
    assert set(failures) == {("a", "ge(0)"), ("b", "isin(['x'])")}
    assert failures[("a", "ge(0)")].failed_rows == 20
    assert len(failures[("a", "ge(0)")].examples) == 3
    assert err.value.step == "validate"


def test_warn_policy_keeps_every_row_and_reports() -> None:
    res = validate_frame(FRAME, schema(col("age", checks={"ge": 0}), on_failure="warn"), target="y")
    assert len(res.frame) == len(FRAME)
    assert res.quarantine.empty
    assert [(f.column, f.check, f.failed_rows) for f in res.failures] == [("age", "ge(0)", 1)]


def test_clean_data_passes_every_policy() -> None:
    for policy in ("fail", "warn", "quarantine"):
        res = validate_frame(
            FRAME, schema(col("y", checks={"isin": [0, 1]}), on_failure=policy), target="y"
        )
        assert res.failures == () and res.quarantine.empty and len(res.frame) == 5


@pytest.mark.parametrize(
    ("frame_checks", "bad_rows"),
    [
        pytest.param({"unique": ["plan", "y"]}, {3}, id="unique-combination"),
        pytest.param({"min_rows": 2, "max_rows": 10}, set(), id="row-bounds-ok"),
    ],
)
def test_dataframe_level_checks(frame_checks: dict[str, Any], bad_rows: set[int]) -> None:
    frame = FRAME.assign(y=[0, 1, 0, 0, 1])
    res = validate_frame(frame, schema(checks=frame_checks), target="y")
    assert set(res.quarantine.index) == bad_rows


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(schema(checks={"min_rows": 10}), id="min_rows"),
        pytest.param(schema(checks={"max_rows": 2}), id="max_rows"),
        pytest.param(schema(col("age", dtype="str")), id="dtype"),
        pytest.param(schema(col("missing")), id="required-column"),
        pytest.param(schema(col("age"), col("y"), strict=True), id="strict"),
    ],
)
def test_frame_level_failures_cannot_be_quarantined_so_they_stop_the_run(spec: SchemaSpec) -> None:
    with pytest.raises(DataValidationError) as err:
        validate_frame(FRAME, spec, target="y")
    assert err.value.failures


def test_frame_level_failures_are_reported_under_warn() -> None:
    res = validate_frame(FRAME, schema(checks={"min_rows": 10}, on_failure="warn"), target="y")
    assert [f.check for f in res.failures] == ["min_rows(10)"]
    assert len(res.frame) == 5


def test_coerce_converts_good_rows_after_quarantine() -> None:
    frame = pd.DataFrame({"n": ["1", "2", "x", "4"], "y": [0, 1, 0, 1]})
    res = validate_frame(frame, schema(col("n", dtype="int64"), coerce=True), target="y")
    assert res.frame["n"].tolist() == [1, 2, 4]
    assert res.frame["n"].dtype == "int64"
    assert res.quarantine.index.tolist() == [2]


def test_custom_check_from_a_registry() -> None:
    registry = CheckRegistry()
    registry.register("non_negative", lambda s: s >= 0)
    registry.register("short", lambda v: len(v) < 4, element_wise=True)
    spec = schema(
        col("age", checks={"custom": "non_negative"}), col("code", checks={"custom": ["short"]})
    )
    res = validate_frame(FRAME, spec, target="y", registry=registry)
    assert res.quarantine.index.tolist() == [1]  # -3 is negative and AB22 is long: same row
    assert res.quarantine.loc[1, "_failed_checks"] == "age:custom(non_negative); code:custom(short)"


def test_unknown_checks_are_listed_with_key_paths_and_did_you_mean() -> None:
    spec = schema(
        col("age", checks={"regx": "a", "le": "old"}),
        col("plan", checks={"custom": "emial"}),
        checks={"uniq": ["a"]},
    )
    with pytest.raises(RecipeError) as err:
        validate_frame(FRAME, spec, target="y")
    assert err.value.key_paths == (
        "schema.columns.age.checks.regx",
        "schema.columns.age.checks.le",
        "schema.columns.plan.checks.custom",
        "schema.checks.uniq",
    )
    problems = err.value.problems
    assert problems[0].hint == "did you mean 'regex'?"
    assert "did you mean 'email'?" in problems[2].message
    assert problems[3].hint == "did you mean 'unique'?"
    assert isinstance(err.value, UserError)
    assert schema_problems(spec, builtin_checks()) == problems


def test_missing_target_column_is_a_user_error() -> None:
    with pytest.raises(UserError) as err:
        validate_frame(FRAME, schema(), target="churn")
    assert err.value.key_path == "target"


@pytest.mark.parametrize(
    ("spec", "checks"),
    [
        (SchemaSpec(), False),
        (SchemaSpec(on_failure="quarantine", coerce=True, max_examples=2), False),
        (schema(col("age", checks={"ge": 0})), True),
        (schema(checks={"min_rows": 1}), True),
        (SchemaSpec(strict=True), True),
        (SchemaSpec(pandera_yaml="schema.yaml"), True),
    ],
)
def test_checks_anything(spec: SchemaSpec, checks: bool) -> None:
    assert spec.checks_anything is checks


@pytest.mark.parametrize("policy", ["fail", "warn", "quarantine"])
def test_a_schema_that_checks_nothing_still_quarantines_null_targets(policy: str) -> None:
    """Without pandera (a schema with nothing to check skips it): the rows and the null
    target's quarantine are what a pandera pass over no checks gives."""
    frame = FRAME.assign(y=[0, None, 1, 0, 1])
    result = validate_frame(frame, SchemaSpec(on_failure=policy), target="y")  # type: ignore[arg-type]
    assert result.frame.equals(frame.drop(index=1).reset_index(drop=True))
    assert result.quarantine.index.tolist() == [1]
    assert set(result.quarantine["_failed_checks"]) == {"y:target is null"}
    assert [(f.check, f.failed_rows) for f in result.failures] == [("target is null", 1)]
    assert result.failure_table["check"].tolist() == ["target is null"]


def test_a_schema_that_checks_nothing_does_not_import_pandera(tmp_path: Any) -> None:
    """What lets a worker forked without pandera validate such a recipe at no import cost."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "no_pandera.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import pandas as pd
            from engine.specs import SchemaSpec
            from engine.validation import validate_frame

            frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, None, 1]})
            result = validate_frame(frame, SchemaSpec(on_failure="quarantine"), target="y")
            assert len(result.frame) == 2 and len(result.quarantine) == 1, result
            print("pandera" in sys.modules)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
