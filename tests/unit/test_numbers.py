"""The one number formatter: the CLI's tables and the run's closing lines print the same way."""

from engine.numbers import metrics_line, number, params_line


def test_numbers_drop_float_noise_and_keep_small_or_large_values_readable() -> None:
    assert number(0.9999999999999999) == "1"
    assert number(0.9326599326599326) == "0.9327"
    assert number(0.000123) == "0.000123"
    assert number(123456.0) == "1.23e+05"
    assert number(50) == "50"
    assert number(None) == "-"
    assert number(True) == "True"


def test_metrics_and_params_lines_are_readable_and_stable() -> None:
    line = metrics_line({"accuracy": 0.9666666666666667, "pr_auc": 0.9999999999999999})
    assert line == "accuracy 0.9667, pr_auc 1"
    assert params_line({"n_jobs": 1, "max_depth": 5, "n_estimators": 50}) == (
        "max_depth=5, n_estimators=50, n_jobs=1"
    )
    assert metrics_line({}) == "-" and params_line({}) == "-"
