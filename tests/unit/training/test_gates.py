"""``select.gates``: absolute and production-relative thresholds."""

from __future__ import annotations

import math

import pytest

from engine.errors import UserError
from engine.gates import check_gates, parse_gate


@pytest.mark.parametrize(
    ("gates", "metrics", "production", "passed"),
    [
        pytest.param({"f1": ">= 0.7"}, {"f1": 0.7}, None, True, id="ge-boundary"),
        pytest.param({"f1": "> 0.7"}, {"f1": 0.7}, None, False, id="gt-boundary"),
        pytest.param({"log_loss": "< 0.3"}, {"log_loss": 0.29}, None, True, id="lt"),
        pytest.param({"rmse": "<= 2"}, {"rmse": 2.5}, None, False, id="le-fails"),
        pytest.param({"f1": ">= production + 0.01"}, {"f1": 0.80}, {"f1": 0.78}, True, id="rel-up"),
        pytest.param(
            {"f1": ">= production + 0.01"}, {"f1": 0.785}, {"f1": 0.78}, False, id="rel-short"
        ),
        pytest.param(
            {"f1": "> production - 0.02"}, {"f1": 0.77}, {"f1": 0.78}, True, id="rel-down"
        ),
        pytest.param({"f1": ">= production"}, {"f1": 0.5}, None, True, id="no-production"),
        pytest.param(
            {"f1": ">= production"},
            {"f1": 0.5},
            {"roc_auc": 0.9},
            True,
            id="production-lacks-metric",
        ),
        pytest.param({"f1": ">= 0.7"}, {"f1": math.nan}, None, False, id="nan-fails"),
        pytest.param(
            {"f1": ">=0.5", "roc_auc": ">= .9"},
            {"f1": 0.6, "roc_auc": 0.8},
            None,
            False,
            id="one-of-two",
        ),
        pytest.param({}, {"f1": 0.1}, None, True, id="no-gates"),
    ],
)
def test_check_gates(gates, metrics, production, passed):
    result = check_gates(gates, metrics, production)
    assert result.passed is passed
    assert len(result.details) == len(gates)
    assert (len(result.failures) == 0) is passed


@pytest.mark.parametrize(
    ("gates", "metrics", "production", "message"),
    [
        pytest.param(
            {"f1": ">= 0.7"}, {"f1": 0.652}, None, "f1 0.652 < 0.700 (short by 0.048)", id="short"
        ),
        pytest.param(
            {"log_loss": "< 0.3"},
            {"log_loss": 0.35},
            None,
            "log_loss 0.350 >= 0.300 (over by 0.050)",
            id="over",
        ),
        pytest.param(
            {"f1": ">= production + 0.01"},
            {"f1": 0.70},
            {"f1": 0.72},
            "f1 0.700 < 0.730 (short by 0.030) (production 0.720 + 0.010)",
            id="relative",
        ),
    ],
)
def test_failure_says_which_gate_and_by_how_much(gates, metrics, production, message):
    assert check_gates(gates, metrics, production).failures == (message,)


def test_relative_gate_without_production_passes_with_a_note():
    result = check_gates({"f1": ">= production + 0.01"}, {"f1": 0.5}, None)
    assert result.passed and "no production model" in result.details[0].message


@pytest.mark.parametrize(
    "expr",
    [
        pytest.param("0.7", id="no-op"),
        pytest.param(">= seventy", id="word"),
        pytest.param("=> 0.7", id="swapped-op"),
        pytest.param(">= prod + 1", id="abbrev"),
        pytest.param(">= production * 2", id="times"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_expression_names_key_path(expr):
    with pytest.raises(UserError) as err:
        parse_gate("f1", expr)
    assert err.value.key_path == "select.gates.f1"


def test_unknown_metric_suggests():
    with pytest.raises(UserError) as err:
        check_gates({"f_1": ">= 0.7"}, {"f1": 0.8, "roc_auc": 0.9}, None)
    assert err.value.key_path == "select.gates.f_1" and "did you mean 'f1'" in str(err.value)


def test_parse_relative_offset_sign():
    gate = parse_gate("f1", " >  production -0.02 ")
    assert (gate.op, gate.value, gate.relative) == (">", -0.02, True)
