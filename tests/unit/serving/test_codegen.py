"""The generated service source: valid Python, typed record, stable identifiers."""

from __future__ import annotations

import ast
import keyword
from pathlib import Path

import pytest

from engine.serving.codegen import class_name, python_names, service_source
from engine.serving.types import FeatureField


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(["age", "plan"], ["age", "plan"], id="plain"),
        pytest.param(["sepal length (cm)"], ["sepal_length_cm"], id="spaces"),
        pytest.param(["a b", "a-b", "A_B"], ["a_b", "a_b_2", "a_b_3"], id="collisions"),
        pytest.param(["1st", "class"], ["f_1st", "f_class"], id="digit-keyword"),
        pytest.param(["model_type"], ["f_model_type"], id="pydantic-reserved"),
        pytest.param(["%%"], ["f0"], id="symbols"),
    ],
)
def test_python_names(names: list[str], expected: list[str]) -> None:
    got = python_names([FeatureField(n, "float") for n in names])
    assert got == expected
    assert all(n.isidentifier() and not keyword.iskeyword(n) for n in got)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        pytest.param("iris", "Iris", id="simple"),
        pytest.param("churn-v2.x", "ChurnV2X", id="dashes"),
        pytest.param("9lives", "M9lives", id="digit"),
    ],
)
def test_class_name(name: str, cls: str) -> None:
    assert class_name(name) == cls


def test_source_declares_typed_record_and_endpoints() -> None:
    feats = [
        FeatureField("age", "int", nullable=False),
        FeatureField("plan", "str", nullable=True),
        FeatureField("x y", "float", nullable=False),
        FeatureField("vip", "bool"),
    ]
    src = service_source(
        name="churn",
        features=feats,
        models={"champion": "churn:abc"},
        config={"name": "churn"},
        max_batch_records=50,
    )
    tree = ast.parse(src)
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    assert {"Record", "Prediction", "ChurnService"} <= classes
    assert "age: int = Field(alias='age')" in src
    assert "plan: str | None = Field(alias='plan')" in src
    assert "x_y: float = Field(alias='x y')" in src
    assert 'extra="forbid"' in src and "allow_inf_nan=False" in src and "strict=True" in src
    assert "BentoModel('churn:abc')" in src
    assert 'route="/predict"' in src and 'route="/predict_batch"' in src
    assert "max_length=50" in src


def test_unknown_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="dtype"):
        service_source(
            name="m",
            features=[FeatureField("d", "timedelta")],
            models={"champion": "m:1"},
            config={},
            max_batch_records=1,
        )


def test_code_version_is_stable_and_tracks_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.serving as serving

    first = serving.code_version()
    assert first == serving.code_version() and len(first) == 16
    fake = tmp_path / "__init__.py"
    fake.write_text("x = 1\n")
    monkeypatch.setattr(serving, "__file__", str(fake))
    other = serving.code_version()
    fake.write_text("x = 2\n")
    assert serving.code_version() != other != first
