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


@pytest.fixture(scope="session")
def _code_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("code-cache"))


@pytest.fixture(autouse=True)
def _user_cache_isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _code_cache: str
) -> None:
    """Sous keeps per-user facts about the installed code outside ``$SOUS_HOME``: each
    test starts without remembered estimator checks, as a new user would. The code
    fingerprints (keyed by stamps of the files they read) are shared by the session, as by
    one user's runs, not with the machine's own cache."""
    monkeypatch.setenv("SOUS_USER_CACHE", str(tmp_path_factory.mktemp("user-cache")))
    monkeypatch.setenv("SOUS_CODE_CACHE", _code_cache)
