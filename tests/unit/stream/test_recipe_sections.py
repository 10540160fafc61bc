"""`features.windows` and `stream:` in a recipe: converted to specs, every problem listed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.errors import RecipeError
from engine.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


def _recipe(tmp_path: Path, **sections: object) -> str:
    base = yaml.safe_load((RECIPES / "card_stream.yaml").read_text())
    base["data"]["sources"]["history"]["path"] = str(RECIPES / "data/card_stream/history.csv")
    for key, value in sections.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(base))
    return str(path)


def test_the_example_recipe_converts(tmp_path: Path) -> None:
    spec = load_recipe(_recipe(tmp_path))
    assert spec.features is not None and spec.features.windows is not None
    windows = spec.features.windows
    assert windows.key == "card_id" and windows.allowed_lateness_s == 120.0
    assert {a.name: a.window_s for a in windows.aggregations}["amount_mean_1h"] == 3600.0
    step = spec.data.integrate[-1]
    assert step.op == "windows" and step.source == "history"
    assert step.options["definitions"]["key"] == "card_id"
    assert spec.stream is not None
    assert spec.stream.source.kind == "redis" and spec.stream.source.options["group"] == "sous"
    assert spec.stream.model.name == "card_stream"  # deploy.bento.name by default


def test_problems_are_listed_together(tmp_path: Path) -> None:
    features = {
        "windows": {
            "key": "card_id",
            "time": "ts",
            "aggregations": {
                "a": {"agg": "median", "column": "amount", "window": "5m"},
                "b": {"agg": "sum", "window": "5 fortnights"},
            },
        }
    }
    stream = {"source": {"kind": "redis", "url": "redis://x"}, "sink": {"kind": "s3"}}
    with pytest.raises(RecipeError) as err:
        load_recipe(_recipe(tmp_path, features=features, stream=stream))
    paths = {p.key_path for p in err.value.problems}
    assert {
        "features.windows.aggregations.a.agg",
        "features.windows.aggregations.b.column",
        "features.windows.aggregations.b.window",
        "stream.source.stream",
        "stream.sink.kind",
    } <= paths


def test_a_placed_windows_step_gets_the_definitions(tmp_path: Path) -> None:
    data = yaml.safe_load((RECIPES / "card_stream.yaml").read_text())["data"]
    data["sources"]["history"]["path"] = str(RECIPES / "data/card_stream/history.csv")
    data["integrate"] = [{"windows": "history"}]
    spec = load_recipe(_recipe(tmp_path, data=data))
    assert [s.op for s in spec.data.integrate] == ["windows"]
    assert spec.data.integrate[0].options["definitions"]["time"] == "ts"
