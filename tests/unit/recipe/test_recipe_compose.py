"""compose(): Hydra composition of a recipe with the built-in groups and overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from engine.errors import RecipeError
from engine.recipe import compose, load_recipe


@pytest.mark.parametrize(
    ("overrides", "key", "value"),
    [
        pytest.param((), "split.test_size", 0.2, id="recipe-value"),
        pytest.param(("split.test_size=0.3",), "split.test_size", 0.3, id="value-override"),
        pytest.param(("split=random",), "split.kind", "random", id="group-in-defaults"),
        pytest.param(("cluster=sync",), "cluster.kind", "sync", id="cluster-sync"),
        pytest.param(("sweep=optuna",), "sweep.strategy", "optuna", id="group-not-in-defaults"),
        pytest.param(("+sweep=random",), "sweep.trials", 20, id="explicit-append"),
        pytest.param(
            ("+models.knn._target_=sklearn.neighbors.KNeighborsClassifier",),
            "models.knn._target_",
            "sklearn.neighbors.KNeighborsClassifier",
            id="add-a-model",
        ),
        pytest.param(("~models.logreg",), "models.logreg", None, id="delete-a-model"),
        pytest.param((), "data.sources.iris.kind", "sklearn", id="source-group-at-package"),
        pytest.param(("model=rf",), "model.name", "rf", id="model-selector-group"),
    ],
)
def test_compose_applies_overrides(overrides: tuple[str, ...], key: str, value: Any) -> None:
    cfg = compose("iris", overrides)
    assert isinstance(cfg, DictConfig)
    assert OmegaConf.select(cfg, key) == value


def test_compose_leaves_global_hydra_uninitialized() -> None:
    compose("iris")
    assert not GlobalHydra.instance().is_initialized()
    with pytest.raises(RecipeError):
        compose("iris", ["+split.test_size=0.3"])  # Hydra refuses: it exists
    assert not GlobalHydra.instance().is_initialized()


def test_compose_inside_a_running_hydra_app_restores_its_state(tmp_path: Path) -> None:
    """The Dask launcher's jobs run inside Hydra: composing must not break their GlobalHydra."""
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        outer = GlobalHydra.instance().hydra
        assert outer is not None
        compose("iris")
        assert GlobalHydra.instance().hydra is outer
    assert not GlobalHydra.instance().is_initialized()


@pytest.mark.parametrize(
    ("recipe", "overrides", "models", "target"),
    [
        pytest.param("iris", (), ["logreg", "rf"], None, id="all"),
        pytest.param("iris", ("model=rf",), ["rf"], "RandomForestClassifier", id="recipe-own-rf"),
        pytest.param(
            "iris", ("model=gbm",), ["gbm"], "HistGradientBoostingClassifier", id="builtin-gbm"
        ),
        pytest.param(
            "diabetes", ("model=rf",), ["rf"], "RandomForestRegressor", id="regression-rf"
        ),
        pytest.param("diabetes", ("model=ridge",), ["ridge"], "Ridge", id="builtin-ridge"),
    ],
)
def test_model_selector_keeps_one_model(
    recipe: str, overrides: tuple[str, ...], models: list[str], target: str | None
) -> None:
    spec = load_recipe(recipe, overrides)
    assert [m.name for m in spec.models] == models
    if target is not None:
        assert (spec.models[0].target or "").endswith("." + target)


def test_model_selector_picks_a_recipe_model_that_is_no_builtin_option(
    write_recipe: Callable[..., Path], minimal: str
) -> None:
    path = write_recipe(
        minimal + "  tiny: {_target_: sklearn.tree.DecisionTreeClassifier, max_depth: 2}\n"
    )
    spec = load_recipe(str(path), ["model=tiny"])
    assert [m.name for m in spec.models] == ["tiny"]
    assert dict(spec.models[0].params) == {"max_depth": 2}


def test_recipe_dir_can_hold_its_own_config_groups(
    write_recipe: Callable[..., Path], minimal: str, tmp_path: Path
) -> None:
    """Groups next to the recipe extend (and shadow) the built-in ones."""
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "big.yaml").write_text("kind: local\nworkers: 8\n")
    path = write_recipe(minimal)
    spec = load_recipe(str(path), ["cluster=big"])
    assert (spec.cluster.kind, spec.cluster.workers) == ("local", 8)


def test_malformed_group_file_points_at_its_line(
    write_recipe: Callable[..., Path], minimal: str, tmp_path: Path
) -> None:
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "bad.yaml").write_text("kind: local\nworkers: [2\n")
    path = write_recipe(minimal)
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path), ["cluster=bad"])
    (problem,) = info.value.problems
    assert problem.file == str(tmp_path / "cluster" / "bad.yaml")
    assert problem.line is not None and "malformed YAML" in problem.message
