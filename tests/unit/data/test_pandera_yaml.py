"""schema: {pandera_yaml: PATH}: pandera's own YAML imported as Sous checks, without running
anything the file names; what cannot be translated is refused by column and check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pytest
import yaml

from engine.data import pandera_yaml
from engine.errors import RecipeError
from engine.recipe import to_spec
from engine.validation import compile_schema


def original() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "age": pa.Column(int, [pa.Check.ge(0), pa.Check.le(120)], unique=True),
            "plan": pa.Column(str, pa.Check.isin(["basic", "pro"]), nullable=True),
            "code": pa.Column(
                str, [pa.Check.str_matches(r"^[A-Z]{2}\d$"), pa.Check.str_length(3, 3)]
            ),
            "score": pa.Column(float, pa.Check.in_range(0, 1, include_max=False), required=False),
        },
        strict=True,
        unique=["age", "plan"],
    )


GOOD = pd.DataFrame(
    {"age": [1, 2], "plan": ["basic", None], "code": ["AB1", "CD2"], "score": [0.0, 0.5]}
)
BAD_ROWS = {
    "negative age": {"age": -1},
    "unknown plan": {"plan": "gold"},
    "code pattern": {"code": "ab1"},
    "code length": {"code": "AB12"},
    "score at the open bound": {"score": 1.0},
    "duplicate age": {"age": 1},
}


def imported_schema(tmp_path: Path, schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    path = tmp_path / "schema.yaml"
    path.write_text(schema.to_yaml())
    spec = to_spec(recipe_file(tmp_path, {"pandera_yaml": "schema.yaml"}), source_file=str(
        tmp_path / "r.yaml"))  # fmt: skip
    return compile_schema(spec.schema).schema


def recipe_file(tmp_path: Path, schema: dict[str, Any]) -> dict[str, Any]:
    cfg = {
        "name": "t", "task": "classification", "target": "age",
        "data": {"sources": {"t": {"kind": "csv", "path": "t.csv"}}},
        "schema": schema,
        "models": {"rf": {"_target_": "sklearn.ensemble.RandomForestClassifier"}},
    }  # fmt: skip
    (tmp_path / "t.csv").write_text("age\n1\n")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(cfg))
    return cfg


def passes(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> bool:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors:
        return False
    return True


def test_imported_schema_accepts_and_rejects_what_the_original_does(tmp_path: Path) -> None:
    ours = imported_schema(tmp_path, original())
    assert passes(original(), GOOD) and passes(ours, GOOD)
    for why, change in BAD_ROWS.items():
        bad = GOOD.copy()
        for col, value in change.items():
            bad.loc[1, col] = value
        assert not passes(original(), bad), why
        assert not passes(ours, bad), why
    extra = GOOD.assign(other=1)  # strict
    assert not passes(ours, extra)
    missing_plan = GOOD.assign(plan=[None, None])
    assert passes(ours, missing_plan)  # nullable: true
    assert not passes(ours, GOOD.assign(code=[None, "CD2"]))  # pandera's default: not nullable
    assert passes(ours, GOOD.drop(columns="score"))  # required: false


def test_both_layouts_and_pandera_aliases_translate() -> None:
    flat = {"columns": {"x": {"dtype": "int64", "greater_than": 0, "less_than": 9,
                              "equal_to": 3, "str_startswith": "a"}}}  # fmt: skip
    listed = {"columns": {"x": {"dtype": "int64", "checks": [
        {"min_value": 0, "options": {"check_name": "greater_than"}},
        {"max_value": 9, "options": {"check_name": "less_than", "n_failure_cases": 5}},
        {"value": 3, "options": {"check_name": "equal_to"}},
        {"string": "a", "options": {"check_name": "str_startswith"}},
    ]}}}  # fmt: skip
    for doc in (flat, listed):
        col = pandera_yaml.translate(doc).columns[0]
        assert dict(col.checks) == {"gt": 0, "lt": 9, "isin": (3,), "str_matches": "a"}
        assert (col.dtype, col.nullable, col.unique, col.required) == ("int64", False, False, True)


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        pytest.param({"columns": {"a": {"my_registered": {"x": 1}}}},
                     "column 'a', check 'my_registered'", id="registered-custom-check"),
        pytest.param({"columns": {"a": {"checks": {"__init_subclass__": 1}}}},
                     "column 'a', check '__init_subclass__'", id="attribute-of-Check"),
        pytest.param({"columns": {"a": {"greater_than": {"min_value": 1, "groupby": "b"}}}},
                     "column 'a', check 'greater_than'", id="grouped"),
        pytest.param({"columns": {"a": {"ge": 1, "raise_warning": True}}},
                     "column 'a', check 'raise_warning'", id="flat-option-is-a-check-name"),
        pytest.param({"checks": [{"options": {"check_name": "my_frame_check"}}]},
                     "key 'checks'", id="dataframe-check"),
        pytest.param({"index": [{"dtype": "int64"}]}, "key 'index'", id="index"),
        pytest.param({"columns": {"a": {"regex": True}}}, "column 'a', regex: true", id="regex"),
        pytest.param({"strict": "filter"}, "key 'strict'", id="strict-filter"),
        pytest.param({"surprise": 1}, "key 'surprise'", id="unknown-key"),
    ],
)  # fmt: skip
def test_untranslatable_parts_are_refused_by_name(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(pandera_yaml.PanderaYamlError) as info:
        pandera_yaml.translate(doc)
    assert where in [r.where for r in info.value.refusals]
    assert all(r.hint for r in info.value.refusals)


def test_yaml_tags_cannot_build_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    marker = tmp_path / "ran"
    path.write_text(f"columns: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(pandera_yaml.PanderaYamlError, match="not valid YAML"):
        pandera_yaml.read(path)
    assert not marker.exists()


def test_recipe_columns_win_over_the_imported_file(tmp_path: Path) -> None:
    (tmp_path / "schema.yaml").write_text(original().to_yaml())
    cfg = recipe_file(tmp_path, {
        "pandera_yaml": "schema.yaml", "strict": False,
        "columns": {"age": {"dtype": "int64", "checks": {"ge": 18}}},
        "checks": {"min_rows": 1},
    })  # fmt: skip
    spec = to_spec(cfg, source_file=str(tmp_path / "r.yaml")).schema
    cols = {c.name: c for c in spec.columns}
    assert dict(cols["age"].checks) == {"ge": 18} and not cols["age"].unique
    assert dict(cols["plan"].checks) == {"isin": ("basic", "pro")}
    assert spec.strict is False and dict(spec.checks) == {"unique": ("age", "plan"), "min_rows": 1}
    assert spec.pandera_yaml == str((tmp_path / "schema.yaml").resolve())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "file not found", id="missing"),
        pytest.param("columns: [unclosed", "not valid YAML at line", id="bad-yaml"),
        pytest.param("columns: {a: {unique_values_eq: [1]}}", "check 'unique_values_eq'",
                     id="untranslatable"),
    ],
)  # fmt: skip
def test_problems_are_recipe_problems_at_the_key(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "schema.yaml").write_text(content)
    cfg = recipe_file(tmp_path, {"pandera_yaml": "schema.yaml"})
    with pytest.raises(RecipeError) as info:
        to_spec(cfg, source_file=str(tmp_path / "r.yaml"))
    problems = [p for p in info.value.problems if p.key_path == "schema.pandera_yaml"]
    assert problems and any(message in p.message for p in problems), info.value.problems
    assert all(p.hint for p in problems)


def test_sous_validate_exits_2_with_where_and_fix(tmp_path: Path) -> None:
    recipe_file(tmp_path, {"pandera_yaml": "nowhere.yaml"})
    done = subprocess.run(
        [sys.executable, "-m", "engine", "validate", str(tmp_path / "r.yaml")],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "schema.pandera_yaml" in done.stderr and "relative to the recipe" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_edited_file_is_validated_again_not_recalled(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from engine.recipe.memo import memo_key

    cfg = OmegaConf.create(recipe_file(tmp_path, {"pandera_yaml": "schema.yaml"}))
    (tmp_path / "schema.yaml").write_text("columns: {age: {ge: 0}}\n")
    before = memo_key(cfg, str(tmp_path / "r.yaml"))
    (tmp_path / "schema.yaml").write_text("columns: {age: {ge: 1}}\n")
    assert memo_key(cfg, str(tmp_path / "r.yaml")) != before
