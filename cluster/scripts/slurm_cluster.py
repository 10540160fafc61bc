"""Start Dask workers as SLURM jobs (dask-jobqueue) and keep the scheduler up until Ctrl-C.

    export DASK_CONFIG=$PWD/cluster/slurm.yaml
    python cluster/scripts/slurm_cluster.py --jobs 4 [--adapt 1:16]
    python cluster/scripts/slurm_cluster.py --jobs 2 --gpus 1 --queue gpu   # GPU workers

Writes the scheduler address to ``--address-file`` (default ``.dask-cluster/address``) so
that ``sous run RECIPE cluster=remote cluster.address=$(cat .dask-cluster/address)`` finds it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="SLURM jobs to submit")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs per job (one worker per job)")
    parser.add_argument("--queue", help="SLURM partition (overrides the config)")
    parser.add_argument("--adapt", help="MIN:MAX jobs: scale with the load instead of --jobs")
    parser.add_argument("--address-file", default=".dask-cluster/address")
    args = parser.parse_args(argv)
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        print("dask-jobqueue is not installed: pip install dask-jobqueue", file=sys.stderr)
        return 2
    cluster = SLURMCluster(**_overrides(args))
    if args.adapt:
        low, high = (int(x) for x in args.adapt.split(":"))
        cluster.adapt(minimum_jobs=low, maximum_jobs=high)
    else:
        cluster.scale(jobs=args.jobs)
    address = Path(args.address_file)
    address.parent.mkdir(parents=True, exist_ok=True)
    address.write_text(cluster.scheduler_address + "\n")
    print(f"scheduler at {cluster.scheduler_address}; dashboard {cluster.dashboard_link}")
    print(cluster.job_script())
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop:
        time.sleep(1)
    cluster.close()
    address.unlink(missing_ok=True)
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """Keyword arguments over the config: a GPU pool is one single-threaded worker per job
    that asks SLURM for the GPUs and advertises them to Dask as the GPU resource."""
    kwargs: dict[str, object] = {}
    if args.queue:
        kwargs["queue"] = args.queue
    if args.gpus:
        kwargs.update(
            cores=1,
            processes=1,
            job_extra_directives=[f"--gres=gpu:{args.gpus}"],
            worker_extra_args=["--resources", f"GPU={args.gpus}"],
        )
    return kwargs


if __name__ == "__main__":
    sys.exit(main())
