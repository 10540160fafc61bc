"""The Dask launcher passes Hydra's own launcher conformance suites, plus our async API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite
from hydra.test_utils.test_utils import TSweepRunner
from omegaconf import DictConfig

# hydra_sweep_runner / hydra_restore_singletons come from Hydra's pytest plugin (hydra.extra)
from hydra_plugins.sous_dask_launcher import DaskLauncher

ROOT = Path(__file__).resolve().parents[2]


def test_discovery() -> None:
    assert DaskLauncher.__name__ in [p.__name__ for p in Plugins.instance().discover(Launcher)]


@pytest.mark.parametrize("launcher_name, overrides", [("dask", ["hydra.launcher.n_workers=2"])])
class TestDaskLauncher(LauncherTestSuite):
    """Hydra's in-process launcher suite: sweeps, config groups, resolvers, bad keys."""


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        pytest.param(
            {
                "defaults": [
                    {"override hydra/launcher": "dask"},
                    {"override hydra/hydra_logging": "hydra_debug"},
                    {"override hydra/job_logging": "disabled"},
                ],
                "hydra": {"launcher": {"n_workers": 2}},
            },
            ["-m"],
            id="local-cluster",
        )
    ],
)
class TestDaskLauncherIntegration(IntegrationTestSuite):
    """Hydra's suite that runs real scripts with ``-m`` in a subprocess."""

    @pytest.fixture(autouse=True)
    def _plugins_importable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The scripts find our plugin even when the repo is not pip-installed."""
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def _pid(_cfg: object) -> int:
    return os.getpid()


def _fail(cfg: DictConfig) -> None:
    raise ValueError(f"job {cfg.a} failed on purpose")


def _sweep(runner: TSweepRunner, task: Any, overrides: list[str], tmpdir: Path) -> Any:
    return runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path="configs",
        config_name="compose.yaml",
        overrides=["hydra/launcher=dask", *overrides],
        temp_dir=tmpdir,
    )


@pytest.mark.usefixtures("hydra_restore_singletons")
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param([], id="defaults"),
        pytest.param(
            ["+hydra.launcher.worker_resources.GPU=1", "+hydra.launcher.resources.GPU=1"],
            id="gpu-annotated",
        ),
    ],
)
def test_jobs_run_in_worker_processes(
    hydra_sweep_runner: TSweepRunner, tmpdir: Path, overrides: list[str]
) -> None:
    with _sweep(hydra_sweep_runner, _pid, ["+a=0,1,2,3", *overrides], tmpdir) as sweep:
        pids = [r.return_value for r in sweep.returns[0]]
    assert len(pids) == 4
    assert os.getpid() not in pids
    assert 1 <= len(set(pids)) <= 2  # n_workers=2 by default


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_a_failing_job_surfaces_its_own_error(
    hydra_sweep_runner: TSweepRunner, tmpdir: Path
) -> None:
    with (
        pytest.raises(ValueError, match="failed on purpose"),
        _sweep(hydra_sweep_runner, _fail, ["+a=0,1"], tmpdir),
    ):
        pass
