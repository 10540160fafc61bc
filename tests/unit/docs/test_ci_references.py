"""`.ci/run` and the Makefile call only scripts that exist (issue 15: `.ci/run` once called a
`scripts/stop_postgres.sh` that did not)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FILES = [ROOT / ".ci" / "run", ROOT / "Makefile"]
SCRIPT = re.compile(r"(?<![\w/.$])((?:scripts|benchmarks)/[\w./-]+\.(?:sh|py))")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_script_called_exists(path: Path) -> None:
    called = set(SCRIPT.findall(path.read_text(encoding="utf-8")))
    assert called, f"{path.name} calls no script? (the pattern is stale)"
    missing = sorted(c for c in called if not (ROOT / c).is_file())
    assert not missing, f"{path.relative_to(ROOT)} calls scripts that do not exist: {missing}"
