"""The metric registry: every score Sous reports, by name and task.

One registry object holds metric functions with what selection needs to know about them
(direction, whether they need probabilities, which task they belong to). The leaderboard,
the gates and the evaluation all score through :func:`score`, so a metric means the same
thing everywhere. scikit-learn is imported inside the metric functions (lazy).
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import UserError
from engine.specs import SelectSpec

# fn(y_true, y_pred, y_score, labels) -> float; y_score is the positive-class probability
# for binary tasks and the (n, k) probability matrix for multiclass.
MetricFn = Callable[[Any, Any, Any, Sequence[Any]], float]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    greater_is_better: bool
    needs_proba: bool
    task: str  # classification | regression


class MetricRegistry:
    """Name -> :class:`Metric`. Filled explicitly (see :func:`default_registry`)."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def register(self, metric: Metric) -> None:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name!r} is already registered")
        self._metrics[metric.name] = metric

    def get(self, name: str, *, key_path: str = "select.metric") -> Metric:
        try:
            return self._metrics[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._metrics), n=1)
            hint = f"did you mean {close[0]!r}?" if close else None
            raise UserError(
                f"{key_path}: unknown metric {name!r} (expected one of {sorted(self._metrics)})",
                key_path=key_path,
                hint=hint,
            ) from None

    def names(self, task: str) -> tuple[str, ...]:
        return tuple(n for n, m in self._metrics.items() if m.task == task)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._metrics.values())


def _is_multiclass(labels: Sequence[Any]) -> bool:
    return len(labels) > 2


def _avg_kwargs(labels: Sequence[Any]) -> dict[str, Any]:
    """macro for multiclass; binary with the second sorted class as positive (as sklearn's
    ``classes_[1]``), so string labels work too."""
    if _is_multiclass(labels):
        return {"average": "macro", "labels": list(labels)}
    return {"average": "binary", "pos_label": labels[-1]}


class _Encoded:
    """One ``score`` call's labels as class indices and its confusion matrix, computed once
    with NumPy: the classification metrics below read it instead of each validating and
    re-encoding the arrays through scikit-learn (most of a fold's scoring time). Same
    numbers as scikit-learn's formulas (tests compare them); anything unusual (a label
    outside ``labels``, non-finite scores) goes the scikit-learn way instead."""

    def __init__(self, y: Any, p: Any, labels: Sequence[Any]):
        import numpy as np

        self.y, self.p, self.labels = y, p, tuple(labels)
        classes = np.asarray(self.labels)
        yt, yp = np.asarray(y), np.asarray(p)
        self.ok = (
            classes.ndim == 1
            and len(classes) >= 2
            and yt.ndim == 1
            and yt.shape == yp.shape
            and len(yt) > 0
            and bool(np.all(classes[:-1] < classes[1:]))  # sorted, as classes_ are
        )
        if not self.ok:
            return
        yi, pi = np.searchsorted(classes, yt), np.searchsorted(classes, yp)
        k = len(classes)
        yi_c, pi_c = np.minimum(yi, k - 1), np.minimum(pi, k - 1)
        self.ok = bool(np.all(classes[yi_c] == yt) and np.all(classes[pi_c] == yp))
        if not self.ok:
            return
        self.k, self.yi, self.n = k, yi, len(yt)
        self.cm = np.bincount(yi * k + pi, minlength=k * k).reshape(k, k)

    def matches(self, y: Any, p: Any, labels: Sequence[Any]) -> bool:
        return self.ok and y is self.y and p is self.p and tuple(labels) == self.labels


_ENCODED: list[_Encoded] = []  # the current ``score`` call's, if any


def _encoded(y: Any, p: Any, labels: Sequence[Any]) -> _Encoded | None:
    enc = _ENCODED[0] if _ENCODED else None
    return enc if enc is not None and enc.matches(y, p, labels) else None


def _fast_prf(enc: _Encoded) -> tuple[float, float, float]:
    """scikit-learn's precision_recall_fscore_support with zero_division=0: binary on the
    last label, else the macro average over ``labels``."""
    import numpy as np

    tp = np.diag(enc.cm).astype(float)
    pred, true = enc.cm.sum(axis=0).astype(float), enc.cm.sum(axis=1).astype(float)
    if enc.k == 2:
        tp, pred, true = tp[-1:], pred[-1:], true[-1:]

    def divide(num: Any, den: Any) -> Any:
        out = np.zeros_like(num)
        np.divide(num, den, out=out, where=den != 0)
        return out

    prec, rec, f1 = divide(tp, pred), divide(tp, true), divide(2.0 * tp, true + pred)
    return float(np.mean(prec)), float(np.mean(rec)), float(np.mean(f1))


def _binary_auc(positive: Any, score: Any) -> float:
    """ROC AUC of one class against the rest: the Mann-Whitney statistic (ties count half),
    which is what the trapezoids under scikit-learn's ROC curve add up to."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan  # scikit-learn raises: one class only
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _binary_ap(positive: Any, score: Any) -> float | None:
    """Average precision as scikit-learn computes it (a step function over the distinct
    thresholds); None when there is no positive (left to scikit-learn)."""
    import numpy as np

    order = np.argsort(score, kind="mergesort")[::-1]
    s, t = score[order], positive[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the end of each distinct score
    tps = np.cumsum(t)[last]
    fps = (last + 1) - tps
    if tps[-1] == 0:
        return None
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _accuracy(y, p, s, labels):  # type: ignore[no-untyped-def]
    enc = _encoded(y, p, labels)
    if enc is not None:
        import numpy as np

        return float(np.trace(enc.cm) / enc.n)
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, p))


def _balanced_accuracy(y, p, s, labels):  # type: ignore[no-untyped-def]
    enc = _encoded(y, p, labels)
    if enc is not None:  # mean recall over the classes present in y (as scikit-learn)
        import numpy as np

        support = enc.cm.sum(axis=1)
        present = support > 0
        return float(np.mean(np.diag(enc.cm)[present] / support[present]))
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, p))


_PRF_LAST: list[Any] = []  # (y, p, labels, result) of the last call: the three share one pass


def _prf(y: Any, p: Any, labels: Sequence[Any]) -> tuple[float, float, float]:
    """Precision, recall and F1 from one ``precision_recall_fscore_support`` pass, reused
    by the three metrics of one ``score`` call (same arrays: same numbers as three calls)."""
    from sklearn.metrics import precision_recall_fscore_support

    last = _PRF_LAST[0] if _PRF_LAST else None
    if last is not None and last[0] is y and last[1] is p and last[2] == tuple(labels):
        return last[3]  # type: ignore[no-any-return]
    enc = _encoded(y, p, labels)
    if enc is not None:
        result = _fast_prf(enc)
        _PRF_LAST[:] = [(y, p, tuple(labels), result)]
        return result
    prec, rec, f1, _ = precision_recall_fscore_support(
        y, p, zero_division=0.0, **_avg_kwargs(labels)
    )
    result = (float(prec), float(rec), float(f1))
    _PRF_LAST[:] = [(y, p, tuple(labels), result)]
    return result


def _precision(y, p, s, labels):  # type: ignore[no-untyped-def]
    return _prf(y, p, labels)[0]


def _recall(y, p, s, labels):  # type: ignore[no-untyped-def]
    return _prf(y, p, labels)[1]


def _f1(y, p, s, labels):  # type: ignore[no-untyped-def]
    return _prf(y, p, labels)[2]


def _fast_scores(y: Any, p: Any, s: Any, labels: Sequence[Any]) -> tuple[_Encoded, Any] | None:
    """The encoded labels and the (n,) or (n, k) scores, when the fast path applies."""
    import numpy as np

    enc = _encoded(y, p, labels)
    if enc is None:
        return None
    arr = np.asarray(s, dtype=float)
    shape = (enc.n, enc.k) if enc.k > 2 else (enc.n,)
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        return None
    return enc, arr


def _roc_auc(y, p, s, labels):  # type: ignore[no-untyped-def]
    fast = _fast_scores(y, p, s, labels)
    if fast is not None:
        enc, arr = fast
        if enc.k == 2:
            return _binary_auc(enc.yi == 1, arr)
        import numpy as np

        if not np.allclose(arr.sum(axis=1), 1.0):  # scikit-learn refuses: NaN, as below
            return math.nan
        aucs = [_binary_auc(enc.yi == c, arr[:, c]) for c in range(enc.k)]
        return math.nan if any(math.isnan(a) for a in aucs) else float(np.mean(aucs))
    from sklearn.metrics import roc_auc_score

    if _is_multiclass(labels):
        return float(roc_auc_score(y, s, multi_class="ovr", average="macro", labels=list(labels)))
    import numpy as np

    return float(roc_auc_score(np.asarray(y) == labels[-1], s))


def _pr_auc(y, p, s, labels):  # type: ignore[no-untyped-def]
    fast = _fast_scores(y, p, s, labels)
    if fast is not None:
        import numpy as np

        enc, arr = fast
        cols = (
            [(enc.yi == 1, arr)] if enc.k == 2 else [(enc.yi == c, arr[:, c]) for c in range(enc.k)]
        )
        aps = [_binary_ap(pos, col) for pos, col in cols]
        found = [a for a in aps if a is not None]
        if len(found) == len(aps):
            return float(np.mean(found))
    from sklearn.metrics import average_precision_score

    if _is_multiclass(labels):
        from sklearn.preprocessing import label_binarize

        onehot = label_binarize(y, classes=list(labels))
        return float(average_precision_score(onehot, s, average="macro"))
    return float(average_precision_score(y, s, pos_label=labels[-1]))


def _log_loss(y, p, s, labels):  # type: ignore[no-untyped-def]
    fast = _fast_scores(y, p, s, labels)
    if fast is not None:
        import numpy as np

        enc, arr = fast
        proba = np.c_[1.0 - arr, arr] if enc.k == 2 else arr
        if np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1.0):
            eps = np.finfo(proba.dtype).eps
            picked = np.clip(proba[np.arange(enc.n), enc.yi], eps, 1 - eps)
            return float(np.average(-np.log(picked)))
    from sklearn.metrics import log_loss

    return float(log_loss(y, s, labels=list(labels)))


def _rmse(y, p, s, labels):  # type: ignore[no-untyped-def]
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(y, p))


def _mae(y, p, s, labels):  # type: ignore[no-untyped-def]
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y, p))


def _r2(y, p, s, labels):  # type: ignore[no-untyped-def]
    from sklearn.metrics import r2_score

    return float(r2_score(y, p))


def default_registry() -> MetricRegistry:
    """The built-in metrics, in the order reports list them."""
    reg = MetricRegistry()
    c, r = "classification", "regression"
    for name, fn, up, proba, task in [
        ("accuracy", _accuracy, True, False, c),
        ("balanced_accuracy", _balanced_accuracy, True, False, c),
        ("precision", _precision, True, False, c),
        ("recall", _recall, True, False, c),
        ("f1", _f1, True, False, c),
        ("roc_auc", _roc_auc, True, True, c),
        ("pr_auc", _pr_auc, True, True, c),
        ("log_loss", _log_loss, False, True, c),
        ("rmse", _rmse, False, False, r),
        ("mae", _mae, False, False, r),
        ("r2", _r2, True, False, r),
    ]:
        reg.register(Metric(name, fn, up, proba, task))
    return reg


METRICS = default_registry()
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "classification": METRICS.names("classification"),
    "regression": METRICS.names("regression"),
}


def greater_is_better(name: str) -> bool:
    """A built-in's direction; every scikit-learn scorer is greater-is-better (its ``neg_*``
    names are negated losses, as in scikit-learn). Unknown: a UserError."""
    if name in METRICS or not isinstance(name, str) or name not in scorer_names():
        return METRICS.get(name).greater_is_better
    return True


# -- any scikit-learn scorer name (sklearn.metrics.get_scorer_names()) -----------------------


@dataclass(frozen=True)
class ScorerInfo:
    """What Sous needs to know about one scikit-learn scorer name."""

    name: str
    task: str  # classification | regression
    needs_proba: bool  # it reads predict_proba (or decision_function) rather than predict


def scorer_info(name: str) -> ScorerInfo | None:
    """The scikit-learn scorer ``name`` as a Sous metric, or None when scikit-learn has no
    such scorer. A scorer built on a regression metric belongs to regression; every other
    (classification, ranking, likelihood ratios, label-agreement) to classification."""
    if name not in scorer_names():
        return None
    from sklearn.metrics import get_scorer

    scorer = get_scorer(name)
    func = getattr(scorer, "_score_func", None)
    module = getattr(func, "__module__", "") or ""
    methods = getattr(scorer, "_response_method", "predict")
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    task = "regression" if module.endswith("._regression") else "classification"
    return ScorerInfo(name, task, "predict" not in methods)


_SCORER_NAMES: list[frozenset[str]] = []


def scorer_names() -> frozenset[str]:
    """scikit-learn's public scorer names (imported once, on the first name that is not a
    built-in: recipes using only built-ins never import scikit-learn to validate)."""
    if not _SCORER_NAMES:
        from sklearn.metrics import get_scorer_names

        _SCORER_NAMES.append(frozenset(get_scorer_names()))
    return _SCORER_NAMES[0]


def known(name: str, task: str) -> bool:
    """Whether ``name`` can be computed for ``task``: a built-in of that task, or a
    scikit-learn scorer of that task."""
    if name in METRICS:
        return METRICS.get(name).task == task
    info = scorer_info(name) if isinstance(name, str) else None
    return info is not None and info.task == task


def choices(task: str) -> tuple[str, ...]:
    """Every name ``task`` accepts, built-ins first (for "did you mean" hints)."""
    builtin = METRICS.names(task)
    extra = sorted(
        n
        for n in scorer_names()
        if n not in METRICS and (info := scorer_info(n)) is not None and info.task == task
    )
    return (*builtin, *extra)


def extra_names(names: Iterable[str | None]) -> tuple[str, ...]:
    """The scikit-learn scorer names among ``names`` (built-ins are always computed), sorted
    and unique: what a fold computes on top of the built-in set."""
    return tuple(sorted({n for n in names if n and n not in METRICS}))


def requested(select: SelectSpec) -> tuple[str, ...]:
    """The scikit-learn scorers a recipe's ``select`` names (metric, tiebreak, gates,
    ``metrics``): computed on every fold and on the test set besides the built-ins."""
    return extra_names([select.metric, select.tiebreak, *select.gates, *select.metrics])


def resolve(name: str, task: str, *, key_path: str = "select.metric") -> None:
    """Raise a UserError (exit 2) naming ``key_path`` unless ``name`` is a metric of ``task``."""
    if known(name, task):
        return
    import difflib

    close = difflib.get_close_matches(name, choices(task), n=3, cutoff=0.6)
    hint = ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else None
    raise UserError(
        f"{key_path}: unknown {task} metric {name!r} (expected a built-in "
        f"({', '.join(METRICS.names(task))}) or a scikit-learn scorer name of {task}, "
        "see sklearn.metrics.get_scorer_names())",
        key_path=key_path,
        hint=hint
        or "list them with: python -c 'import sklearn.metrics as m; print(m.get_scorer_names())'",
    )


def _replay(task: str, y_pred: Any, proba: Any, labels: Sequence[Any]) -> Any:
    """A stand-in for the fitted model that answers ``predict`` / ``predict_proba`` with the
    fold's predictions: scikit-learn's own scorer then computes the number (its response
    handling, ``pos_label`` and sign included) without predicting again."""
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    base = ClassifierMixin if task == "classification" else RegressorMixin

    class _Replay(base, BaseEstimator):  # type: ignore[misc, valid-type]
        def predict(self, x: Any) -> Any:
            return y_pred

    if task == "classification":
        _Replay.classes_ = np.asarray(labels)  # type: ignore[attr-defined]
        if proba is not None:

            def predict_proba(self: Any, x: Any) -> Any:
                return proba

            _Replay.predict_proba = predict_proba  # type: ignore[attr-defined]
    return _Replay()


def scorer_scores(
    task: str,
    names: Sequence[str],
    y_true: Any,
    y_pred: Any,
    y_score: Any,
    labels: Sequence[Any],
) -> dict[str, float]:
    """scikit-learn scorers ``names`` on one set of predictions. ``y_score``: the (n, k)
    probability matrix (columns follow ``labels``), the positive-class column of a binary
    task, or None (a model without ``predict_proba``: probability scorers are skipped, as
    the built-in ones are). A scorer undefined on the data is NaN."""
    import numpy as np
    from sklearn.metrics import get_scorer

    proba = None if y_score is None else np.asarray(y_score, dtype=float)
    if proba is not None and proba.ndim == 1:  # the positive column only: both columns
        proba = np.c_[1.0 - proba, proba]
    model = _replay(task, np.asarray(y_pred), proba, labels)
    dummy = np.empty((len(y_true), 0))  # the replay ignores X
    out: dict[str, float] = {}
    for name in names:
        info = scorer_info(name)
        if info is None or (info.needs_proba and proba is None):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                out[name] = float(get_scorer(name)(model, dummy, y_true))
            except (ValueError, TypeError, ZeroDivisionError):
                out[name] = math.nan
    return out


def default_metric(task: str) -> str:
    """What selection ranks by when the recipe leaves ``select.metric`` out."""
    return "f1" if task == "classification" else "rmse"


def _positive_scores(y_score: Any, labels: Sequence[Any]) -> Any:
    """Binary metrics want the positive-class column; accept the full (n, 2) matrix too."""
    import numpy as np

    arr = np.asarray(y_score, dtype=float)
    if not _is_multiclass(labels) and arr.ndim == 2:
        return arr[:, -1]
    return arr


def score(
    task: str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    labels: Sequence[Any] | None = None,
    *,
    registry: MetricRegistry = METRICS,
    extra: Sequence[str] = (),
) -> dict[str, float]:
    """Every metric of ``task`` that the inputs allow, plus the scikit-learn scorers
    ``extra`` (see :func:`extra_names`), from the same predictions.

    Probability metrics are skipped when ``y_score`` is None (a model without
    ``predict_proba``). A metric undefined on this data (e.g. roc_auc on a fold holding one
    class) is NaN rather than an error, so one odd fold does not kill a sweep.
    """
    import numpy as np

    if labels is None and task == "classification":
        labels = tuple(np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)])))
    labels = tuple(labels or ())
    scores = None if y_score is None else _positive_scores(y_score, labels)
    out: dict[str, float] = {}
    if task == "classification":
        _ENCODED[:] = [_Encoded(y_true, y_pred, labels)]
    for name in registry.names(task):
        metric = registry.get(name)
        if metric.needs_proba and scores is None:
            continue
        with warnings.catch_warnings():
            # a degenerate fold (one class present) is expected in sweeps: NaN, not noise
            warnings.simplefilter("ignore", UserWarning)
            try:
                out[name] = metric.fn(y_true, y_pred, scores, labels)
            except ValueError:
                out[name] = math.nan
    _PRF_LAST.clear()  # do not keep the arrays alive past the call
    _ENCODED.clear()
    extra = [n for n in extra if n not in registry]  # a built-in keeps its own meaning
    if extra:
        out.update(scorer_scores(task, extra, y_true, y_pred, y_score, labels))
    return out


def per_class_f1(y_true: Any, y_pred: Any, labels: Sequence[Any]) -> dict[str, float]:
    """F1 of each class: the number that shows a model ignoring the rare class."""
    from sklearn.metrics import f1_score

    values = f1_score(y_true, y_pred, labels=list(labels), average=None, zero_division=0.0)
    return {str(label): float(v) for label, v in zip(labels, values, strict=True)}
