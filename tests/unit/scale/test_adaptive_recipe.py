"""cluster.adaptive in a recipe: parsed into AdaptiveSpec, bad bounds and remote refused."""

from __future__ import annotations

import pytest

from engine import api
from engine.errors import UserError
from engine.specs import AdaptiveSpec


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "sous"))


def test_adaptive_bounds_are_read_and_default_to_none() -> None:
    assert api.validate("iris").cluster.adaptive is None
    spec = api.validate("iris", ["cluster.adaptive={minimum: 1, maximum: 3}"])
    assert spec.cluster.adaptive == AdaptiveSpec(minimum=1, maximum=3)
    assert api.validate("iris", ["cluster.adaptive={}"]).cluster.adaptive == AdaptiveSpec(0, 2)


@pytest.mark.parametrize(
    ("overrides", "where", "says"),
    [
        (["cluster.adaptive={minimum: 3, maximum: 1}"], "cluster.adaptive.maximum", "below"),
        (["cluster.adaptive={maximum: 0}"], "cluster.adaptive.maximum", ">= 1"),
        (["cluster.adaptive={max: 2}"], "cluster.adaptive.max", "unknown key"),
        (
            [
                "cluster=remote",
                "cluster.address=tcp://127.0.0.1:8786",
                "+cluster.adaptive={maximum: 2}",
            ],
            "cluster.adaptive",
            "scales a local cluster",
        ),
    ],
)
def test_bad_adaptive_bounds_are_user_errors(overrides, where, says) -> None:
    with pytest.raises(UserError) as err:
        api.validate("iris", overrides)
    text = str(err.value)
    assert where in text and says in text


RECIPE = """
name: kinds
task: classification
target: target
data: {{sources: {{iris: {{kind: sklearn, name: iris}}}}}}
models:
  m: {model}
deploy: {{enabled: false}}
"""


def _validate(tmp_path, model: str):
    path = tmp_path / "kinds.yaml"
    path.write_text(RECIPE.format(model=model))
    return api.validate(str(path))


def test_scale_model_kinds_validate_their_keys(tmp_path) -> None:
    """dask_xgboost and incremental entries are checked like sklearn ones, at validation."""
    ok = _validate(tmp_path, "{kind: dask_xgboost, max_depth: 3, search: {n_estimators: [5, 9]}}")
    assert ok.models[0].kind == "dask_xgboost"
    ok = _validate(
        tmp_path,
        "{kind: incremental, _target_: sklearn.linear_model.SGDClassifier, batch_rows: 50, "
        "epochs: 2, alpha: 0.001}",
    )
    assert dict(ok.models[0].params) == {"batch_rows": 50, "epochs": 2, "alpha": 0.001}
    bad = [
        ("{kind: dask_xgboost, depth: 3}", "models.m", "depth"),
        ("{kind: incremental, epochs: 2}", "models.m._target_", "missing"),
        ("{kind: incremental, _target_: sklearn.ensemble.RandomForestClassifier}",
         "models.m._target_", "no partial_fit"),
        ("{kind: incremental, _target_: sklearn.linear_model.SGDClassifier, alpah: 1}",
         "models.m", "alpah"),
    ]  # fmt: skip
    for model, where, says in bad:
        with pytest.raises(UserError) as err:
            _validate(tmp_path, model)
        text = str(err.value)
        assert where in text and says in text, text
