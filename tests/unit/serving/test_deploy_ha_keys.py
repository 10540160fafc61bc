"""The recipe keys of serving that survives: ``deploy.bento.workers`` and ``deploy.fallback``
(parsed, defaulted, refused with a key path), and the generated service that uses them."""

from __future__ import annotations

import pytest

from engine.errors import RecipeError
from engine.recipe import load_recipe
from engine.serving.codegen import service_source
from engine.serving.types import FeatureField


def test_defaults_and_values() -> None:
    spec = load_recipe("iris")
    assert spec.deploy.bento.workers == 1 and spec.deploy.fallback is None
    spec = load_recipe("iris", ("+deploy.bento.workers=2", "+deploy.fallback=previous"))
    assert spec.deploy.bento.workers == 2 and spec.deploy.fallback == "previous"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        pytest.param("+deploy.bento.workers=0", "deploy.bento.workers", id="zero-workers"),
        pytest.param("+deploy.fallback=older", "deploy.fallback", id="unknown-fallback"),
    ],
)
def test_bad_values_are_user_errors_at_their_key(override: str, key: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe("iris", (override,))
    assert info.value.exit_code == 2
    assert [p.key_path for p in info.value.problems] == [key]


def test_the_generated_service_sets_its_workers() -> None:
    config = {"name": "m", "features": [], "workers": 3}
    src = service_source(
        name="m",
        features=[FeatureField("x", "float")],
        models={"champion": "m:v1", "fallback": "m:v0"},
        config=config,
        max_batch_records=10,
    )
    assert "workers=3," in src and "model_fallback = bentoml.models.BentoModel('m:v0')" in src
    compile(src, "service.py", "exec")
