"""The recipe's ``monitor:`` section: defaults, values, and every problem reported."""

from __future__ import annotations

import pytest

from engine.errors import RecipeError
from engine.recipe.monitor import from_config
from engine.specs import MonitorSpec


def test_defaults_without_a_section() -> None:
    assert from_config({}) == MonitorSpec()
    assert from_config(None) == MonitorSpec()


def test_values_and_per_feature_overrides() -> None:
    spec = from_config(
        {
            "monitor": {
                "window": "2h",
                "min_samples": 50,
                "thresholds": {"psi": 0.3, "p_value": 0.05},
                "features": {"age": {"psi": 0.5}, "id": {"ignore": True}},
                "metric_drop": 0.02,
                "alerts": {"webhook": "http://127.0.0.1:9/hook", "log": False},
                "on_alert": "retrain",
            }
        }
    )
    assert spec.window_s == 7200 and spec.min_samples == 50 and spec.on_alert == "retrain"
    assert spec.thresholds.psi == 0.3 and spec.thresholds.p_value == 0.05
    assert spec.features["age"].psi == 0.5 and spec.features["age"].p_value == 0.05
    assert spec.features["id"].ignore
    assert spec.alerts.webhook == "http://127.0.0.1:9/hook" and not spec.alerts.log


@pytest.mark.parametrize(
    ("section", "key_path"),
    [
        pytest.param({"window": "soon"}, "monitor.window", id="window"),
        pytest.param({"thresholds": {"psi": -1}}, "monitor.thresholds.psi", id="psi"),
        pytest.param({"thresholds": {"p_value": 2}}, "monitor.thresholds.p_value", id="p"),
        pytest.param(
            {"alerts": {"webhook": "file:///etc/passwd"}},
            "monitor.alerts.webhook",
            id="webhook-scheme",
        ),
        pytest.param({"on_alert": "page"}, "monitor.on_alert", id="on_alert"),
        pytest.param({"min_sample": 3}, "monitor.min_sample", id="unknown-key"),
        pytest.param({"features": {"x": {"psy": 1}}}, "monitor.features.x.psy", id="feature-key"),
    ],
)
def test_bad_values_are_user_errors_naming_the_key(section: dict, key_path: str) -> None:
    with pytest.raises(RecipeError) as info:
        from_config({"monitor": section})
    assert key_path in info.value.key_paths


def test_the_section_is_part_of_a_recipe(tmp_path: object) -> None:
    from engine.recipe.convert import build
    from engine.recipe.problems import Issues

    plain = {
        "name": "m",
        "task": "classification",
        "target": "target",
        "data": {"sources": {"iris": {"kind": "sklearn", "name": "iris"}}},
        "models": {"rf": {"_target_": "sklearn.ensemble.RandomForestClassifier"}},
        "monitor": {"window": "1h", "thresholds": {"psi": 0.25}},
    }
    from pathlib import Path

    issues = Issues()
    spec = build(plain, Path.cwd(), issues)
    assert not issues.problems, issues.problems
    assert spec is not None and spec.monitor.window_s == 3600
    assert spec.monitor.thresholds.psi == 0.25
