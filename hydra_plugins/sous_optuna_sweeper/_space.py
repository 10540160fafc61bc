"""Hydra sweep syntax -> optuna distributions.

``interval(a, b)`` is a float range, ``int(interval(a, b))`` an int range, ``tag(log, ...)``
makes either log-scaled; ``a,b,c``, ``choice(a, b)`` and ``range(a, b)`` are categorical over
the override strings themselves, so any value Hydra can parse (groups, lists, quoted
strings) goes back to the job exactly as the user wrote it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from hydra.errors import HydraException

if TYPE_CHECKING:  # optuna loads when a sweep starts: Hydra imports every plugin on compose
    from optuna.distributions import BaseDistribution


@dataclass(frozen=True)
class SearchSpace:
    """What the sweeper searches (``dists``) and what every job gets unchanged (``fixed``)."""

    dists: "dict[str, BaseDistribution]"
    fixed: tuple[str, ...]

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The override strings of one trial: fixed ones first, then the sampled values."""
        return [*self.fixed, *(f"{key}={_render(value)}" for key, value in params.items())]


def _render(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _distribution(override: Override) -> "BaseDistribution":
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    key = override.get_key_element()
    if override.is_discrete_sweep():
        return CategoricalDistribution(list(override.sweep_string_iterator()))
    sweep = override.value()
    if not isinstance(sweep, IntervalSweep) or sweep.start is None or sweep.end is None:
        raise HydraException(f"optuna sweeper: cannot search {key}={override.input_line}")
    log = "log" in sweep.tags
    if sweep.start >= sweep.end:
        raise HydraException(
            f"optuna sweeper: {key}: interval is empty (start {sweep.start} >= end {sweep.end});"
            " write interval(low, high) with low < high"
        )
    if log and sweep.start <= 0:
        raise HydraException(
            f"optuna sweeper: {key}: a log interval needs start > 0, got {sweep.start}"
        )
    if isinstance(sweep.start, int) and isinstance(sweep.end, int):
        return IntDistribution(sweep.start, sweep.end, log=log)
    return FloatDistribution(float(sweep.start), float(sweep.end), log=log)


def parse_space(parser: OverridesParser, lines: Sequence[str]) -> SearchSpace:
    """Split overrides into searched keys (sweeps) and fixed ones (plain values)."""
    dists: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    for override in parser.parse_overrides(list(lines)):
        key = override.get_key_element()
        if override.is_sweep_override():
            dists[key] = _distribution(override)
        else:
            fixed.append(f"{key}={override.get_value_element_as_str()}")
    return SearchSpace(dists, tuple(fixed))
