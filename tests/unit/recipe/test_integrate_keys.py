"""Integrate steps written the way users write them (bare `on:` keys, as-of on mismatched keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.recipe import load_recipe

RECIPE = """
name: t
task: classification
target: target
data:
  sources:
    a: {{kind: sklearn, name: iris}}
    b: {{kind: sklearn, name: iris}}
  integrate:
    - {step}
models:
  lr: {{_target_: sklearn.linear_model.LogisticRegression}}
"""


@pytest.mark.parametrize(
    ("step", "options"),
    [
        pytest.param(
            "{join: b, on: target, how: left}", {"on": "target", "how": "left"}, id="bare-on-join"
        ),
        pytest.param("{asof: b, on: ts, by: id}", {"on": "ts", "by": "id"}, id="bare-on-asof"),
        pytest.param(
            "{asof: b, left_on: t1, right_on: t2, left_by: a, right_by: b}",
            {"left_on": "t1", "right_on": "t2", "left_by": "a", "right_by": "b"},
            id="asof-mismatched-keys",
        ),
    ],
)
def test_integrate_step_options(tmp_path: Path, step: str, options: dict[str, str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(RECIPE.format(step=step))
    spec = load_recipe(str(path))
    (op,) = spec.data.integrate
    assert op.source == "b"
    assert {k: op.options[k] for k in options} == options


PII_RECIPE = """
name: t
task: classification
target: target
data:
  sources:
    a: {{kind: sklearn, name: iris}}
  pii: {{"petal width (cm)": {how}}}
  {extra}
models:
  lr: {{_target_: sklearn.linear_model.LogisticRegression}}
deploy: {{promote: {promote}}}
"""


@pytest.mark.parametrize(
    ("how", "extra", "promote", "problems"),
    [
        pytest.param("hash", "", "staging", ["data.pii.petal width (cm)"], id="hashed-feature"),
        pytest.param("redact", "", "staging", ["data.pii.petal width (cm)"], id="redacted-feature"),
        pytest.param("hash", 'drop: ["petal width (cm)"]', "staging", [], id="hashed-dropped"),
        pytest.param("drop", "", "staging", [], id="dropped-column"),
        pytest.param("drop", "", "prod", ["deploy.promote"], id="unknown-alias"),
        pytest.param("drop", "", "null", [], id="package-only"),
    ],
)
def test_masked_columns_and_aliases(
    tmp_path: Path, how: str, extra: str, promote: str, problems: list[str]
) -> None:
    from engine.errors import RecipeError

    path = tmp_path / "t.yaml"
    path.write_text(PII_RECIPE.format(how=how, extra=extra, promote=promote))
    if not problems:
        load_recipe(str(path))
        return
    with pytest.raises(RecipeError) as err:
        load_recipe(str(path))
    assert list(err.value.key_paths) == problems
