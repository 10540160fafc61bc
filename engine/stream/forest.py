"""Forest probabilities without scikit-learn's per-tree dispatch: moved to
:mod:`engine.models.forest` (shared with serving); kept here for the stream's imports."""

from engine.models.forest import FastForestProba, accelerate

__all__ = ["FastForestProba", "accelerate"]
