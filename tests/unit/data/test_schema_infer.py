"""sous schema infer: a schema the data passes, PII flagged and never copied, written
atomically; --format pandera round-trips through schema: {pandera_yaml: PATH}."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pytest
import yaml

from engine.data import infer
from engine.recipe import to_spec
from engine.validation import compile_schema

FRAME = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 4, 5, 6],
        "email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io", None],
        "contact": ["+44 20 7946 0001", "+44 20 7946 0002", "+44 20 7946 0003",
                    "+44 20 7946 0004", "+44 20 7946 0005", "+44 20 7946 0006"],
        "plan": ["basic", "pro", "basic", "pro", "basic", "pro"],
        "age": [30, 41, 25, 60, 33, 47],
        "score": [0.5, 0.25, 0.75, 1.0, None, 0.0],
        "churned": [0, 1, 0, 1, 0, 0],
    }
)  # fmt: skip


def columns(schema: infer.InferredSchema) -> dict[str, infer.InferredColumn]:
    return {c.name: c for c in schema.columns}


def test_inference_reads_dtypes_nulls_bounds_categories_and_flags_pii() -> None:
    cols = columns(infer.infer(FRAME))
    assert cols["customer_id"].unique and not cols["customer_id"].nullable
    assert dict(cols["age"].checks) == {"ge": 25, "le": 60} and cols["age"].dtype == "int64"
    assert cols["score"].nullable and dict(cols["score"].checks) == {"ge": 0.0, "le": 1.0}
    assert dict(cols["plan"].checks) == {"isin": ["basic", "pro"]} and not cols["plan"].unique
    assert cols["email"].pii and "name" in cols["email"].pii
    assert cols["contact"].pii and "phone" in cols["contact"].pii
    for name in ("email", "contact"):  # personal values are never copied into a schema
        assert dict(cols[name].checks) == {}
    assert cols["plan"].pii is None and cols["age"].pii is None


def test_masked_columns_are_not_flagged() -> None:
    cols = columns(infer.infer(FRAME, masked=frozenset({"email"})))
    assert cols["email"].pii is None and dict(cols["email"].checks) == {}


def test_the_sous_block_is_a_valid_schema_the_data_passes(tmp_path: Path) -> None:
    text = infer.sous_yaml(infer.infer(FRAME), recipe="r")
    assert "# email: looks like personal data" in text
    block = yaml.safe_load(text)
    schema = compile_schema(spec_with(tmp_path, block["schema"]).schema).schema
    schema.validate(FRAME, lazy=True)
    with pytest.raises(pa.errors.SchemaErrors):
        schema.validate(bad(FRAME), lazy=True)


def bad(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[0, "age"] = 200  # beyond the inferred max
    out.loc[1, "plan"] = "gold"  # not an inferred category
    return out


def spec_with(tmp_path: Path, schema: dict[str, Any]) -> Any:
    cfg = {
        "name": "t", "task": "classification", "target": "churned",
        "data": {"sources": {"t": {"kind": "csv", "path": "t.csv"}}},
        "schema": schema,
        "models": {"lr": {"_target_": "sklearn.linear_model.LogisticRegression"}},
    }  # fmt: skip
    FRAME.to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(cfg))
    return to_spec(cfg, source_file=str(tmp_path / "r.yaml"))


def sous(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOUS_HOME": str(cwd / "home")}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=cwd,
        env=env, check=False,
    )  # fmt: skip


def test_round_trip_infer_pandera_yaml_recipe_validate(tmp_path: Path) -> None:
    spec_with(tmp_path, {})  # writes t.csv and r.yaml (no schema yet)
    done = sous("schema", "infer", "r.yaml", "--format", "pandera", "--out", "s.yaml",
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "personal data? email, contact" in done.stdout
    assert "schema_type: dataframe" in (tmp_path / "s.yaml").read_text()
    pa.DataFrameSchema.from_yaml(tmp_path / "s.yaml")  # pandera itself reads it
    # the recipe imports it; sous validate passes; the data passes, a bad row fails
    cfg = yaml.safe_load((tmp_path / "r.yaml").read_text())
    cfg["schema"] = {"pandera_yaml": "s.yaml"}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(cfg))
    checked = sous("validate", "r.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    schema = compile_schema(to_spec(cfg, source_file=str(tmp_path / "r.yaml")).schema).schema
    frame = pd.read_csv(tmp_path / "t.csv")
    schema.validate(frame, lazy=True)
    with pytest.raises(pa.errors.SchemaErrors) as err:
        schema.validate(bad(frame), lazy=True)
    failed = set(err.value.failure_cases["column"].dropna())
    assert {"age", "plan"} <= failed


def test_out_is_never_replaced_without_force_and_json_lists_columns(tmp_path: Path) -> None:
    spec_with(tmp_path, {})
    (tmp_path / "s.yaml").write_text("mine\n")
    refused = sous("schema", "infer", "r.yaml", "--out", "s.yaml", cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert (tmp_path / "s.yaml").read_text() == "mine\n"
    done = sous("schema", "infer", "r.yaml", "--out", "s.yaml", "--force", "--json",
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == 6 and not report["sampled"]
    assert [c["name"] for c in report["columns"]] == list(FRAME.columns)
    assert yaml.safe_load((tmp_path / "s.yaml").read_text())["schema"]["columns"]["age"] == {
        "dtype": "int64", "nullable": False, "checks": {"ge": 25, "le": 60}
    }  # fmt: skip
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".s.yaml")]  # no temp left


def test_sample_rows_bounds_the_rows_read(tmp_path: Path) -> None:
    spec_with(tmp_path, {})
    done = sous("schema", "infer", "r.yaml", "--sample-rows", "3", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 3 and json.loads(done.stdout)["sampled"]


def test_out_of_core_reads_only_the_first_partitions(tmp_path: Path) -> None:
    big = pd.DataFrame({"x": range(5000), "churned": [i % 2 for i in range(5000)]})
    big.to_csv(tmp_path / "big.csv", index=False)
    cfg = {
        "name": "t", "task": "classification", "target": "churned",
        "data": {"sources": {"t": {"kind": "csv", "path": "big.csv"}},
                 "out_of_core": {"blocksize": 4096}},
        "models": {"lr": {"_target_": "sklearn.linear_model.LogisticRegression"}},
    }  # fmt: skip
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(cfg))
    spec = to_spec(cfg, source_file=str(tmp_path / "r.yaml"))
    frame, sampled = infer.sample_frame(spec, 100)
    assert sampled and len(frame) == 100 and frame["x"].tolist() == list(range(100))


def test_help_and_missing_recipe(tmp_path: Path) -> None:
    shown = sous("schema", "--help", cwd=tmp_path)
    assert shown.returncode == 0 and "--format {sous,pandera}" in shown.stdout
    missing = sous("schema", "infer", cwd=tmp_path)
    assert missing.returncode == 2 and "needs a RECIPE" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_completion_offers_the_action_recipes_options_and_formats() -> None:
    from engine.cli import build_parser
    from engine.completion import candidates

    def complete(*words: str) -> list[str]:
        return candidates(build_parser(), list(words))

    assert "schema" in complete("sch")
    assert complete("schema", "") == ["infer"]
    assert "iris" in complete("schema", "infer", "")
    assert {"--format", "--force"} <= set(complete("schema", "infer", "iris", "--f"))
    assert sorted(complete("schema", "infer", "iris", "--format", "")) == ["pandera", "sous"]
