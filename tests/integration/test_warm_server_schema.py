"""The warm fork server imports pandera only for a recipe that declares schema checks: its
imports end before any worker starts, so a recipe without checks gets its workers about a
second sooner (issue 10). Each case in a fresh interpreter (the server is one per process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from distributed import Client

    from engine.execution.cluster import local_cluster, start_warm_server
    from engine.specs import ClusterSpec


    def imported():
        return {m: m in sys.modules for m in ("pandera", "sklearn.ensemble", "pandas")}


    if __name__ == "__main__":
        assert start_warm_server(schema=sys.argv[1] == "schema")
        spec = ClusterSpec(workers=1, memory_limit="1GB", dashboard="off")
        with local_cluster(spec) as cluster, Client(cluster) as client:
            print(json.dumps(list(client.run(imported).values())[0]))
    """
)


@pytest.mark.parametrize("recipe", ["schema", "no-schema"])
def test_workers_come_with_pandera_only_when_the_recipe_checks(recipe: str, tmp_path) -> None:
    script = tmp_path / "warm_schema.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), recipe],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"pandera": recipe == "schema", "sklearn.ensemble": True, "pandas": True}
