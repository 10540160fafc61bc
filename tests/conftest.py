"""Suite-wide isolation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _hydra_version_base_isolated() -> Iterator[None]:
    """Hydra keeps `version_base` process-wide once any test initialises it; Hydra's own
    launcher suites expect the default, so every test gets back the value it found."""
    from hydra.version import VersionBase

    base = VersionBase.instance().version_base
    yield
    VersionBase.instance().version_base = base
