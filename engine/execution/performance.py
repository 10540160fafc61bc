"""``sous run --profile``: Dask's own performance report (``distributed.performance_report``:
task stream, worker profile, bandwidth, the scheduler's counters) over the part of a run
that Dask computes, saved as one HTML file with the run. Here because only
``engine.execution`` talks to Dask's scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "dask-performance-report.html"


@dataclass
class Report:
    """Where the report is written: ``path`` once the block ended and the file exists."""

    path: Path | None = None


@contextmanager
def performance_report(executor: Any, run_dir: Path | None) -> Iterator[Report]:
    """Record Dask's performance report of what runs inside the block on ``executor``'s
    client, into ``run_dir``/:data:`FILE_NAME`. ``run_dir`` None (no ``--profile``) or an
    executor without a client (in-process ``sync``) records nothing."""
    report = Report()
    client = getattr(executor, "client", None)
    if run_dir is None or client is None:
        yield report
        return
    from distributed import performance_report as dask_report

    target = run_dir / FILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with client.as_current(), dask_report(filename=str(target)):
        yield report
    if target.is_file():
        target.chmod(0o600)  # owner-only, as the run's own report
        report.path = target
