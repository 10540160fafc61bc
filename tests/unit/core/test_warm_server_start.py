"""Starting the warm fork server costs the driver next to nothing: the server begins its
imports at once, while the driver goes on validating (issue 10: the command's fixed cost).
Checked in a fresh interpreter, where nothing is imported yet."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from multiprocessing import forkserver

    from engine.execution.cluster import start_warm_server

    assert start_warm_server()
    started = forkserver._forkserver._forkserver_pid
    heavy = [m for m in ("distributed", "pandas", "sklearn") if m in sys.modules]
    import distributed.utils  # what the nannies ask for their context, later

    from engine.execution.cluster import _keep_our_preload

    _keep_our_preload()
    distributed.utils.get_mp_context()
    print(json.dumps({
        "heavy": heavy,
        "pandas_after": "pandas" in sys.modules,
        "same_server": forkserver._forkserver._forkserver_pid == started,
    }))
    """
)


def test_the_warm_server_starts_without_the_heavy_imports_in_the_driver(tmp_path) -> None:
    script = tmp_path / "warm_start.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == []  # the server imports them, not the driver
    # Dask's context is ours: it does not import pandas in the driver to list its preload
    assert seen["pandas_after"] is False
    assert seen["same_server"] is True
