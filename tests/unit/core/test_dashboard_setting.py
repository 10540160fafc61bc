"""``cluster.dashboard: auto`` serves Dask's dashboard only when someone is watching (stderr
is a terminal); ``on`` and ``off`` say so whatever stderr is. The clusters themselves are
started in tests/integration/test_dask_dashboard.py."""

from __future__ import annotations

import io
import sys
import types

import pytest

from engine.execution import cluster


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("setting", "terminal", "wanted"),
    [
        ("auto", True, True),
        ("auto", False, False),
        ("on", False, True),
        ("on", True, True),
        ("off", True, False),
        ("off", False, False),
    ],
)
def test_dashboard_wanted(
    setting: str, terminal: bool, wanted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stderr", _Terminal() if terminal else io.StringIO())
    assert cluster.dashboard_wanted(setting) is wanted


def test_auto_without_any_stderr_serves_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, a daemon with stderr closed
    assert cluster.dashboard_wanted("auto") is False


def test_auto_in_a_jupyter_kernel_serves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook's stderr is no terminal, yet someone is watching: the link shows there."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert cluster.dashboard_wanted("auto") is True
    assert cluster.dashboard_wanted("off") is False
