"""The one place that imports BentoML, after pointing its store under ``$SOUS_HOME``.

BentoML reads ``BENTOML_HOME`` once, when it is first imported; setting it here before the
import keeps every model and Bento inside Sous's state directory.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from engine.home import bentoml_home


def bentoml_env() -> dict[str, str]:
    """Environment a BentoML subprocess needs to see the same store as this process."""
    return {"BENTOML_HOME": str(bentoml_home()), "BENTOML_DO_NOT_TRACK": "True"}


THIRD_PARTY = r"(bentoml|_bentoml_sdk|_bentoml_impl|bentoml_cli|pathspec|fs)(\..*)?$"


@contextmanager
def quiet() -> Iterator[None]:
    """Silence BentoML's own deprecation warnings (pathspec, pydantic 2.11 APIs it calls):
    they are theirs, not actionable by users, and tests turn warnings into errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=THIRD_PARTY)
        yield


def bentoml() -> ModuleType:
    """The ``bentoml`` module, imported with its home set to Sous's store."""
    import sys

    if "bentoml" not in sys.modules:
        os.environ.update(bentoml_env())
    else:
        _check_home()
    with quiet():
        import bentoml as _bentoml
        import bentoml._internal.bento.build_config
        import bentoml._internal.cloud.deployment

    return _bentoml


def _check_home() -> None:
    """BentoML fixes its home at import; re-point its stores when ``$SOUS_HOME`` moved
    (a test's temporary home, or a second run in one process)."""
    from bentoml._internal.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer as C
    from bentoml._internal.models import ModelStore

    home = bentoml_home()
    want = str(home)
    # the stores BentoML holds decide, not the environment: a caller (a test, a shell) may
    # have set BENTOML_HOME to the new home already while the stores still point at the old
    os.environ.update(bentoml_env())
    if C.bentoml_home.get() == want and C.bento_store_dir.get() == str(home / "bentos"):
        return

    for d in ("bentos", "models", "tmp", "envs"):
        (home / d).mkdir(parents=True, exist_ok=True)
    C.bentoml_home.set(want)
    C.bento_store_dir.set(str(home / "bentos"))
    C.model_store_dir.set(str(home / "models"))
    C.tmp_bento_store_dir.set(str(home / "tmp"))
    C.env_store_dir.set(str(home / "envs"))
    C.bento_store.set(BentoStore(str(home / "bentos")))
    C.model_store.set(ModelStore(str(home / "models")))
    C.tmp_bento_store.set(BentoStore(str(home / "tmp")))
