"""Model adapters with the scikit-learn contract: sklearn Pipelines and Lightning MLPs.

Importing this package is cheap; sklearn, imblearn and torch load when a model is built.
"""

from __future__ import annotations

from engine.models.build import build_estimator, default_resources, make_model

__all__ = ["build_estimator", "default_resources", "make_model"]
