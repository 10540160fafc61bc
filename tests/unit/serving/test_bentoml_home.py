"""BentoML fixes its store at import; Sous re-points it when ``$SOUS_HOME`` moves, even when
the caller has already exported the new ``BENTOML_HOME`` (a test fixture, a shell that ran
``eval "$(sous env)"``): the stores BentoML holds decide, not the environment."""

import subprocess
import sys

SCRIPT = """
import os, tempfile
from pathlib import Path
from engine.serving._bentoml import bentoml
from bentoml._internal.configuration.containers import BentoMLContainer as C

first, second = tempfile.mkdtemp(), tempfile.mkdtemp()
os.environ["SOUS_HOME"] = first
bentoml()
assert C.bento_store_dir.get() == str(Path(first) / "bentoml" / "bentos")
os.environ["SOUS_HOME"] = second
os.environ["BENTOML_HOME"] = str(Path(second) / "bentoml")  # already exported by the caller
bentoml()
assert C.bento_store_dir.get() == str(Path(second) / "bentoml" / "bentos"), C.bento_store_dir.get()
assert C.model_store_dir.get() == str(Path(second) / "bentoml" / "models")
print("ok")
"""


def test_a_moved_home_repoints_the_stores_even_with_bentoml_home_already_set() -> None:
    env = {"BENTOML_DO_NOT_TRACK": "True", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
