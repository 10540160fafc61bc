"""Workers forked from the warm server see the driver's environment as it is now, and size
their thread pools as Dask asks, on a real LocalCluster. The check runs in a fresh interpreter:
the fork server must start in it, with the variable set, for the test to be able to fail."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os

    from distributed import Client

    from engine.execution.cluster import local_cluster, start_warm_server
    from engine.specs import ClusterSpec


    def seen():
        from threadpoolctl import threadpool_info

        return {
            "stale": os.environ.get("SOUS_TEST_STALE"),
            "kept": os.environ.get("SOUS_TEST_KEPT"),
            "unset_list": os.environ.get("SOUS_ENV_UNSET"),
            "pools": sorted({p["num_threads"] for p in threadpool_info()}),
        }


    def through_a_step():
        # what a step sees: the chain runner sizes the pools of its thread first
        from engine.execution import runtime

        runtime._size_thread_pools()
        return seen()


    if __name__ == "__main__":
        os.environ["SOUS_TEST_STALE"] = "from-the-server"  # e.g. a signing key unset later
        assert start_warm_server()
        del os.environ["SOUS_TEST_STALE"]
        os.environ["SOUS_TEST_KEPT"] = "set-after-the-server"
        spec = ClusterSpec(workers=1, memory_limit="1GB")
        with local_cluster(spec, warm=True, dashboard=False) as cluster, Client(cluster) as c:
            print(json.dumps(c.submit(through_a_step, pure=False).result(timeout=120)))
    """
)


def test_a_forked_worker_drops_variables_unset_since_and_uses_one_blas_thread(tmp_path) -> None:
    script = tmp_path / "warm_env.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["stale"] is None  # the server had it, the driver unset it: gone
    assert seen["kept"] == "set-after-the-server"  # set since: passed on
    assert seen["unset_list"] is None  # the list itself is consumed
    assert seen["pools"] == [1]  # OMP_NUM_THREADS=1 (Dask's) applied to the inherited pools
