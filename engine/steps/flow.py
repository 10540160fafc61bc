"""Steps that connect the data and training steps: features, folds, trials, selection, refit.

Plain functions over plain values, like every step: they never see config, cluster or store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import RunError
from engine.specs import CVSpec, ImbalanceSpec, ModelSpec, PreprocessSpec

if TYPE_CHECKING:
    from engine.steps.tradeoff_records import Tradeoff


@dataclass(frozen=True)
class TrialResult:
    """One model configuration's selection score: the mean over its folds (or its one holdout)."""

    model: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    metrics_std: Mapping[str, float] = field(default_factory=dict)
    folds: tuple[Mapping[str, float], ...] = ()
    fit_s: float = 0.0

    def as_record(self) -> dict[str, Any]:
        from engine.specs import thaw

        return {
            "model": self.model,
            "params": thaw(self.params),
            "metrics": dict(self.metrics),
            "metrics_std": dict(self.metrics_std),
            "folds": [dict(f) for f in self.folds],
        }


@dataclass(frozen=True)
class Selection:
    metric: str
    greater_is_better: bool
    leaderboard: tuple[TrialResult, ...]  # best first
    # rank on ``metric`` alone, per leaderboard row (equal scores share a rank: a tie that
    # ``tiebreak``, then the cheaper fit, decided)
    ranks: tuple[int, ...] = ()
    tiebreak: str | None = None
    # the leaderboard row that is served: the best one, unless ``select.tradeoff`` chose a
    # cheaper one within its tolerance (then ``tradeoff`` says what it weighed)
    chosen: int = 0
    tradeoff: Tradeoff | None = None

    def tied(self, i: int) -> bool:
        return bool(self.ranks) and self.ranks.count(self.ranks[i]) > 1

    @property
    def winner(self) -> TrialResult:
        return self.leaderboard[self.chosen]


def feature_columns(
    frame: Any, *, target: str, features: Sequence[str], drop: Sequence[str]
) -> tuple[str, ...]:
    """The model's input columns: declared ones, or every column but the target and dropped ones."""
    if features:
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise RunError(
                f"data.features names columns the data does not have: {missing}; "
                f"available: {list(frame.columns)}",
                step="features",
            )
        return tuple(features)
    return tuple(c for c in frame.columns if c != target and c not in set(drop))


def holdout_of(sample: Any) -> Any:
    """The train/valid/test positions of an out-of-core sample."""
    return sample.holdout


def selection_folds(
    frame: Any,
    *,
    split: Any,
    target: str,
    task: str,
    spec: CVSpec,
    seed: int,
    time: str | None = None,
) -> tuple[tuple[Any, Any], ...]:
    """CV folds over train+valid; the test rows never take part in selection. With a time
    column, time-series folds follow it."""
    import numpy as np

    from engine.steps.train import folds

    idx = np.concatenate([split.train, split.valid])
    return folds(frame, idx, target=target, task=task, spec=spec, seed=seed, time=time)


def aggregate_trial(fits: Sequence[Any], *, model: str, params: Mapping[str, Any]) -> TrialResult:
    """Mean and standard deviation of each metric over the trial's folds."""
    import numpy as np

    names = list(fits[0].metrics)
    per_fold = tuple(dict(f.metrics) for f in fits)
    mean = {m: float(np.mean([f[m] for f in per_fold])) for m in names}
    std = {m: float(np.std([f[m] for f in per_fold])) for m in names}
    return TrialResult(model, params, mean, std, per_fold, float(sum(f.fit_s for f in fits)))


def select(
    trials: Sequence[TrialResult],
    *,
    metric: str,
    greater_is_better: bool,
    tiebreak: str | None = None,
    tiebreak_greater_is_better: bool = False,
) -> Selection:
    """Rank trials by the selection metric. On small validation sets many trials tie on it:
    ties go to the better ``tiebreak`` metric (a proper scoring rule, which separates
    models that classify alike by how well calibrated they are), then to the cheaper fit
    (less fit time), never to the order the trials were listed in."""
    import math

    def score(t: TrialResult, name: str, greater: bool, field: str) -> float:
        if name not in t.metrics:
            raise RunError(
                f"{field} {name!r} was not computed; computed: {sorted(t.metrics)}",
                step="select",
            )
        v = t.metrics[name]
        if math.isnan(v):
            return math.inf
        return -round(v, 12) if greater else round(v, 12)  # float noise is not a difference

    def primary(t: TrialResult) -> float:
        return score(t, metric, greater_is_better, "select.metric")

    def secondary(t: TrialResult) -> float:
        if tiebreak is None:
            return 0.0
        return score(t, tiebreak, tiebreak_greater_is_better, "select.tiebreak")

    ranked = sorted(trials, key=lambda t: (primary(t), secondary(t), t.fit_s))
    firsts: dict[float, int] = {}
    ranks = tuple(firsts.setdefault(primary(t), i + 1) for i, t in enumerate(ranked))
    return Selection(metric, greater_is_better, tuple(ranked), ranks, tiebreak)


def refit_winner(
    selection: Selection,
    *,
    frame: Any,
    idx: Any,
    more_idx: Any,
    models: Sequence[ModelSpec],
    target: str,
    task: str,
    preprocess: PreprocessSpec,
    imbalance: ImbalanceSpec,
    features: Sequence[str],
    seed: int,
) -> Any:
    """:func:`refit_fit` of the selection's winner (a plan shown before selecting has this
    node; a run plans :func:`refit_fit` of the winner it found)."""
    winner = selection.winner
    return refit_fit(
        model=next(m for m in models if m.name == winner.model),
        params=winner.params,
        frame=frame,
        idx=idx,
        more_idx=more_idx,
        target=target,
        task=task,
        preprocess=preprocess,
        imbalance=imbalance,
        features=features,
        seed=seed,
    )


def refit_fit(
    *,
    model: ModelSpec,
    params: Mapping[str, Any],
    frame: Any,
    idx: Any,
    more_idx: Any,
    target: str,
    task: str,
    preprocess: PreprocessSpec,
    imbalance: ImbalanceSpec,
    features: Sequence[str],
    seed: int,
) -> Any:
    """The winner refit on train+valid: the model that is tested once and served. It runs
    alone at the end of the run, so a forest builds its trees on every core."""
    import numpy as np

    from engine.models.parallel import available_cores
    from engine.steps.train import refit

    rows = np.concatenate([idx, more_idx])
    return refit(
        frame,
        rows,
        target=target,
        task=task,
        model=model,
        params=params,
        preprocess=preprocess,
        imbalance=imbalance,
        features=features,
        seed=seed,
        cores=available_cores(),
    )
