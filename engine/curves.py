"""What a classifier's evaluation is drawn with: the confusion matrix, and per class the
ROC, precision-recall and calibration curves (one-vs-rest; the positive class alone for a
binary task).

They are computed once, where the model is scored (the ``test`` step, on a worker that has
scikit-learn loaded), and travel with the evaluation: the run's report and the UI draw
them without importing scikit-learn. The driver of a run otherwise paid scikit-learn's
import (over a second of CPU) after the last fit, only to draw the report (issue 10).
:func:`of` computes them for an evaluation made before they were kept with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Points = tuple[np.ndarray, np.ndarray]  # (x, y), x ascending where the curve has an order


@dataclass(frozen=True, eq=False)
class ClassCurves:
    """One class against the rest. ``rate``: its share of the rows (the no-skill line of
    the precision-recall chart)."""

    label: str
    rate: float
    roc: Points  # false positive rate, true positive rate
    pr: Points  # recall (ascending), precision
    calibration: Points  # mean predicted probability, fraction positive (10 quantile bins)


# how the curves are drawn, by the report and by the UI alike: each chart's title, x axis,
# y axis, and the ClassCurves field that holds its points
CHARTS = (
    ("ROC curve", "false positive rate", "true positive rate", "roc"),
    ("Precision-recall curve", "recall", "precision", "pr"),
    ("Calibration", "mean predicted probability", "fraction positive", "calibration"),
)


@dataclass(frozen=True, eq=False)
class ClassifierCurves:
    """``confusion[i][j]``: rows of true ``labels[i]`` predicted ``labels[j]``. ``classes``
    is empty without probabilities, and skips a class that all rows or none have (its
    curves are undefined)."""

    labels: tuple[Any, ...]
    confusion: np.ndarray
    classes: tuple[ClassCurves, ...]


def classifier_curves(
    y_true: Any, y_pred: Any, y_score: np.ndarray | None, labels: Sequence[Any]
) -> ClassifierCurves:
    """Scikit-learn's own curves (``y_score``: the (n, k) probabilities, columns in
    ``labels`` order, or None)."""
    from sklearn.metrics import confusion_matrix

    labels = tuple(labels)
    confusion = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(labels))
    classes = () if y_score is None else _per_class(np.asarray(y_true), y_score, labels)
    return ClassifierCurves(labels, confusion, classes)


def _per_class(
    y_true: np.ndarray, y_score: np.ndarray, labels: tuple[Any, ...]
) -> tuple[ClassCurves, ...]:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    out = []
    for label in [labels[-1]] if len(labels) == 2 else labels:
        truth = y_true == label
        if truth.all() or not truth.any():
            continue
        score = np.asarray(y_score)[:, labels.index(label)]
        fpr, tpr, _ = roc_curve(truth, score)
        precision, recall, _ = precision_recall_curve(truth, score)
        fraction, mean = calibration_curve(truth, score, n_bins=10, strategy="quantile")
        curves = ClassCurves(
            str(label), float(truth.mean()), (fpr, tpr), (recall[::-1], precision[::-1]),
            (mean, fraction),
        )  # fmt: skip
        out.append(curves)
    return tuple(out)


def of(evaluation: Any) -> ClassifierCurves:
    """The curves kept with a classifier's evaluation, or computed now for one made
    without them (an evaluation cached by an older Sous)."""
    kept = getattr(evaluation, "curves", None)
    if isinstance(kept, ClassifierCurves):
        return kept
    return classifier_curves(
        evaluation.y_true, evaluation.y_pred, evaluation.y_score, evaluation.labels
    )
