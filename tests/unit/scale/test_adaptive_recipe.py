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
