"""Issue 11: the model builder checks a ``_target_`` again before calling it, whatever
validation said (a spec can reach a worker pickled, or from a multirun job)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.models.build import make_model
from engine.specs import ModelSpec, frozen_map


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``sous_build_canary.touch`` (a function) and ``.Plain`` (a class, not an estimator)
    leave the marker file when called."""
    marker = tmp_path / "called"
    (tmp_path / "sous_build_canary.py").write_text(
        f"def touch(*a, **k):\n    open({str(marker)!r}, 'w').close()\n\n\n"
        "class Plain:\n    def __init__(self, *a, **k):\n        touch()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SOUS_ALLOW_TARGETS", "sous_build_canary")
    yield marker
    sys.modules.pop("sous_build_canary", None)


@pytest.mark.parametrize(
    ("target", "params", "message"),
    [
        pytest.param("os.system", {"command": "true"}, "not allowed", id="os.system"),
        pytest.param(
            "sklearn.utils._testing.assert_run_python_script_without_output",
            {"source_code": "open('x', 'w')"},
            "private",
            id="private-module",
        ),
        pytest.param(
            "sklearn.datasets.dump_svmlight_file", {"f": "x"}, "not a class", id="function"
        ),
        pytest.param("sous_build_canary.touch", {}, "not a class", id="allowlisted-function"),
        pytest.param("sous_build_canary.Plain", {}, "not an estimator", id="not-an-estimator"),
        pytest.param("sklearn.ensemble._forest.os.system", {}, "private", id="detour"),
    ],
)
def test_builder_refuses_what_it_would_call(
    target: str, params: dict[str, str], message: str, marker: Path
) -> None:
    model = ModelSpec(name="evil", kind="sklearn", target=target, params=frozen_map(params))
    with pytest.raises(UserError) as info:
        make_model(model, {}, task="classification", seed=0)
    assert info.value.key_path == "models.evil._target_"
    assert message in str(info.value)
    assert not marker.exists()


def test_builder_still_builds_estimators(marker: Path) -> None:
    model = ModelSpec(
        name="rf",
        kind="sklearn",
        target="sklearn.ensemble.RandomForestClassifier",
        params=frozen_map({"n_estimators": 3}),
    )
    estimator, merged = make_model(model, {}, task="classification", seed=7)
    assert (estimator.n_estimators, estimator.random_state, merged) == (3, 7, {"n_estimators": 3})
