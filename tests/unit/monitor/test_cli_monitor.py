"""`sous monitor` / `sous retrain` argument errors are user errors (exit 2, no traceback),
and the text report renders every section."""

from __future__ import annotations

import pytest

from engine.cli import main
from engine.monitor.text import render


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["monitor", "nope"], "nope", id="unknown-model"),
        pytest.param(["monitor", "nope", "--since", "yesterday"], "--since", id="bad-since"),
        pytest.param(["monitor", "x", "--watch", "--interval", "soon"], "--interval", id="every"),
        pytest.param(["retrain", "nope"], "nope", id="retrain-unknown"),
    ],
)
def test_user_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_text_report() -> None:
    report = {
        "model": "m", "version": "v1", "n": 500,
        "features": {"age": {"score": 0.5, "pvalue": 0.0, "drifted": True, "method": "ks",
                             "missing_rate": {"reference": 0.0, "live": 0.1},
                             "reasons": ["distribution"]}},
        "prediction_drift": {"score": 0.01, "pvalue": 0.5, "drifted": False,
                             "mix": {"reference": {"a": 0.5}, "live": {"a": 0.6}}},
        "traffic": {"champion/served": {"rows": 500, "p50_ms": 2, "p95_ms": 5, "p99_ms": 9}},
        "performance": {"labelled": 40, "live": {"f1": 0.7}, "test": {"f1": 0.8}},
        "slices": [{"feature": "plan", "segment": "pro", "metric": "accuracy", "value": 0.4,
                    "rows": 12}],
        "notes": ["a note"],
        "alerts": [{"message": "feature 'age' drifted"}],
    }  # fmt: skip
    text = render(report)
    for part in ("m:v1", "DRIFT (distribution)", "0.000->0.100", "predictions: PSI",
                 "champion/served: 500 rows", "f1: 0.7 (0.8)", "slice plan pro",
                 "note: a note", "1 alert(s):", "feature 'age' drifted"):  # fmt: skip
        assert part in text, part
