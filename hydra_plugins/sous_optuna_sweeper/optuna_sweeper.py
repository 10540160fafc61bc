"""A Hydra sweeper on current optuna (TPE) that never waits for a whole batch.

With a launcher that offers ``launch_async`` (our Dask launcher) it keeps ``n_jobs`` trials in
flight and asks optuna for the next one the moment any trial finishes, so one slow trial
never idles the other slots. With any other launcher it falls back to batches of ``n_jobs``.
The best trial is written to ``optimization_results.yaml`` in the sweep dir.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:  # optuna loads when a sweep starts: Hydra imports every plugin on compose
    import optuna
from hydra_plugins.sous_optuna_sweeper._space import SearchSpace, parse_space

log = logging.getLogger(__name__)
DIRECTIONS = ("minimize", "maximize")


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        direction: str = "minimize",
        n_trials: int = 20,
        timeout_s: float | None = None,
        n_jobs: int = 2,
        seed: int | None = None,
        metric: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise HydraException(
                f"hydra.sweeper.direction: expected one of {', '.join(DIRECTIONS)}, got {direction!r}"
            )
        for name, value in (("n_trials", n_trials), ("n_jobs", n_jobs)):
            if value < 1:
                raise HydraException(f"hydra.sweeper.{name}: expected an int >= 1, got {value}")
        self.direction = direction
        self.n_trials = n_trials
        self.timeout_s = timeout_s
        self.n_jobs = n_jobs
        self.seed = seed
        self.metric = metric
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Launcher | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        """Run the study; returns the jobs' results (in job order) as one batch per round."""
        if self.config is None or self.hydra_context is None or self.launcher is None:
            raise RuntimeError("OptunaSweeper.sweep called before setup()")
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        space = parse_space(parser, [f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        import optuna

        study = optuna.create_study(
            direction=optuna.study.StudyDirection[self.direction.upper()],
            sampler=optuna.samplers.TPESampler(
                seed=self.seed, n_startup_trials=min(10, self.n_trials)
            ),
        )
        run = _Run(self, study, space, time.monotonic())
        launch_async = getattr(self.launcher, "launch_async", None)
        try:
            batches = run.in_flight(launch_async) if callable(launch_async) else run.batched()
        finally:
            close = getattr(self.launcher, "close", None)
            if callable(close):
                close()
        _save_results(study, sweep_dir)
        return batches

    def objective(self, ret: JobReturn) -> float | None:
        """The value optuna sees for a finished job; None marks the trial failed."""
        if ret.status != JobStatus.COMPLETED:
            log.warning(
                f"job {ret.hydra_cfg.hydra.job.num if ret.hydra_cfg else '?'} failed: {ret._return_value!r}"
            )
            return None
        value = ret.return_value
        if self.metric is not None:
            if not isinstance(value, Mapping) or self.metric not in value:
                raise HydraException(
                    f"hydra.sweeper.metric={self.metric!r}: the task returned {value!r}, which has no such key"
                )
            value = value[self.metric]
        if value is None:  # e.g. a Sous job that failed reports no score
            return None
        try:
            out = float(value)
        except (TypeError, ValueError):
            hint = (
                "set hydra.sweeper.metric to the key of the score"
                if isinstance(value, Mapping)
                else ""
            )
            raise HydraException(
                f"optuna sweeper: the task must return a number, got {value!r}. {hint}"
            ) from None
        return None if math.isnan(out) else out


class _Run:
    """One study in progress: asks, launches, tells, under the trial and time budgets."""

    def __init__(
        self, sweeper: OptunaSweeper, study: optuna.Study, space: SearchSpace, start: float
    ):
        self.sweeper = sweeper
        self.study = study
        self.space = space
        self.start = start
        self.asked = 0

    def budget_left(self) -> bool:
        timeout = self.sweeper.timeout_s
        in_time = timeout is None or time.monotonic() - self.start < timeout
        return self.asked < self.sweeper.n_trials and in_time

    def ask(self) -> tuple[optuna.trial.Trial, list[str]]:
        trial = self.study.ask(dict(self.space.dists))
        overrides = self.space.overrides(trial.params)
        if self.asked == 0:  # compose the first job here: a bad override fails fast, in the driver
            self.sweeper.validate_batch_is_legal([overrides])
        self.asked += 1
        return trial, overrides

    def tell(self, trial: optuna.trial.Trial, ret: JobReturn) -> None:
        from optuna.trial import TrialState

        value = self.sweeper.objective(ret)
        if value is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, value)

    def in_flight(self, launch_async: Any) -> list[list[JobReturn]]:
        """Keep n_jobs trials running; submit the next one as soon as any finishes."""
        running: dict[cf.Future[JobReturn], optuna.trial.Trial] = {}
        done: dict[int, JobReturn] = {}
        while True:
            while len(running) < self.sweeper.n_jobs and self.budget_left():
                trial, overrides = self.ask()
                (future,) = launch_async([overrides], trial.number)
                running[future] = trial
            if not running:
                break
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                trial = running.pop(future)
                done[trial.number] = ret = future.result()
                self.tell(trial, ret)
        return [[done[k] for k in sorted(done)]]

    def batched(self) -> list[list[JobReturn]]:
        """Fallback for launchers without ``launch_async``: rounds of n_jobs trials."""
        launcher = self.sweeper.launcher
        if launcher is None:
            raise RuntimeError("OptunaSweeper: no launcher")
        batches: list[list[JobReturn]] = []
        while self.budget_left():
            asked = [
                self.ask()
                for _ in range(min(self.sweeper.n_jobs, self.sweeper.n_trials - self.asked))
            ]
            results = launcher.launch([o for _, o in asked], initial_job_idx=asked[0][0].number)
            for (trial, _), ret in zip(asked, results, strict=True):
                self.tell(trial, ret)
            batches.append(list(results))
        return batches


def _save_results(study: optuna.Study, sweep_dir: Path) -> None:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    counts = {
        s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,))) for s in TrialState
    }
    results: dict[str, Any] = {"name": "optuna", "n_trials": len(study.trials), "states": counts}
    if complete:
        best = study.best_trial
        results.update(best_params=dict(best.params), best_value=best.value, best_trial=best.number)
        log.info(f"Best trial #{best.number}: value={best.value} params={best.params}")
    else:
        log.warning("optuna sweeper: no trial completed")
    OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
