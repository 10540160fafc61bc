"""What a composition gives back, apart from the composer (which brings Hydra's helpers): a
remembered composition (:mod:`engine.recipe.compose_memo`) is returned without it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import Problem

if TYPE_CHECKING:
    from omegaconf import DictConfig


@dataclass(frozen=True)
class Composed:
    """A composition that kept going: the config (None if even the recipe alone failed)
    and a problem for every override that had to be left out."""

    path: Path
    cfg: DictConfig | None
    problems: tuple[Problem, ...]
