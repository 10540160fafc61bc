"""Pure parts of packaging: names, pins, requirement options."""

from __future__ import annotations

import pytest

from engine.errors import UserError
from engine.serving.packaging import TORCH_CPU_INDEX, _needs, _pinned, check_name, python_options


@pytest.mark.parametrize("name", ["iris", "churn-v2", "a.b_c", "x1"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["Iris", "my model", "-x", "x-", "", "a/b"])
def test_invalid_names_are_user_errors(name: str) -> None:
    with pytest.raises(UserError) as info:
        check_name(name)
    assert info.value.key_path == "deploy.bento.name"
    assert info.value.hint


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        pytest.param(b"sklearn.pipeline", (), id="sklearn-only"),
        pytest.param(b"engine.models.lightning torch.nn", ("torch", "lightning"), id="torch"),
        pytest.param(b"imblearn.pipeline", ("imbalanced-learn",), id="imblearn"),
    ],
)
def test_needs(blob: bytes, expected: tuple[str, ...]) -> None:
    assert _needs(blob) == expected


def test_pins_use_installed_versions_and_torch_cpu_index() -> None:
    pins = _pinned(["scikit-learn", "surely-not-installed-pkg"])
    assert pins[0].startswith("scikit-learn==") and pins[1] == "surely-not-installed-pkg"
    assert python_options(["numpy==2.0"]) == {"packages": ["numpy==2.0"], "lock_packages": False}
    opts = python_options(["torch==2.13.0+cpu"])
    assert opts["extra_index_url"] == [TORCH_CPU_INDEX] and opts["lock_packages"] is False
