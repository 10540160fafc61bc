"""How a stream's registry scorer notices promotions: a polling thread for ``refresh_s > 0``;
with ``refresh_s: 0`` no thread at all (it would spin) and a check before every batch."""

import threading
from typing import Any

from engine.stream.scorer import RegistryScorer


class _Scorer(RegistryScorer):
    """The registry's alias and model loading replaced by a counter (unit level; the
    integration test promotes real versions under a running consumer)."""

    def __init__(self, refresh_s: float):
        super().__init__("m", refresh_s)
        self.alias = "v1"
        self.checks = 0

    def promoted(self) -> str:
        self.checks += 1
        return self.alias

    def _load(self, version: str) -> Any:
        return f"predictor-{version}"


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_refresh_zero_checks_before_every_batch_and_starts_no_thread() -> None:
    scorer = _Scorer(0)
    scorer.prepare()
    try:
        assert scorer._stop is None  # no polling thread was started
        assert scorer.predictor() == "predictor-v1"
        scorer.alias = "v2"
        assert scorer.predictor() == "predictor-v2"  # the very next batch
        assert scorer.checks == 3  # prepare + one per batch
    finally:
        scorer.close()


def test_a_positive_refresh_polls_in_the_background() -> None:
    scorer = _Scorer(0.01)
    scorer.prepare()
    try:
        assert scorer._stop is not None and "sous-stream-model" in _threads()
        scorer.alias = "v2"
        for _ in range(500):
            if scorer.predictor() == "predictor-v2":
                break
            threading.Event().wait(0.01)
        assert scorer.predictor() == "predictor-v2"
    finally:
        scorer.close()
