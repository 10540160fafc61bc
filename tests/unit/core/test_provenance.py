"""Code and library provenance of steps: stable across processes, specific to the code run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine import provenance
from engine.plan import node_provenance
from engine.specs import ImbalanceSpec, ModelSpec

PROBE = """
from engine import provenance as p
from engine.steps import data, flow, train
fns = [data.load, data.integrate, data.validate, data.profile, train.split, train.fit_score,
       train.evaluate, flow.select, flow.refit_winner, flow.aggregate_trial]
print([p.code_fingerprint(f) for f in fns], [sorted(p.deciding_libraries(f)) for f in fns])
"""


def test_fingerprints_are_the_same_in_every_process() -> None:
    """Python randomises set order per process: a key must not depend on it."""
    outs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
        )
        outs.add(out.stdout)
    assert len(outs) == 1


def test_steps_of_one_module_have_their_own_fingerprints() -> None:
    from engine.steps import data

    prints = {provenance.code_fingerprint(f) for f in (data.load, data.validate, data.profile)}
    assert len(prints) == 3


def test_a_step_finds_the_libraries_its_code_imports() -> None:
    from engine.steps import data, train

    assert "pandera" in provenance.deciding_libraries(data.validate)
    assert "pandera" not in provenance.deciding_libraries(data.profile)
    assert "sklearn" in provenance.deciding_libraries(train.fit_score)
    # libraries that only some models run are named by the model, never found statically
    assert not provenance.deciding_libraries(train.fit_score) & provenance.BY_MODEL


@pytest.mark.parametrize(
    ("model", "imbalance", "expected"),
    [
        pytest.param(
            ModelSpec("rf", "sklearn", "sklearn.ensemble.RandomForestClassifier"),
            ImbalanceSpec(),
            {"sklearn"},
            id="sklearn",
        ),
        pytest.param(
            ModelSpec("mlp", "lightning", None), ImbalanceSpec(), {"torch", "lightning"}, id="mlp"
        ),
        pytest.param(
            ModelSpec("rf", "sklearn", "sklearn.svm.SVC"),
            ImbalanceSpec("smote"),
            {"sklearn", "imblearn"},
            id="smote",
        ),
    ],
)
def test_a_model_brings_its_libraries(
    model: ModelSpec, imbalance: ImbalanceSpec, expected: set[str]
) -> None:
    from engine.steps import train

    _, libs = node_provenance(train.fit_score, {"model": model, "imbalance": imbalance})
    assert expected <= libs
    assert not ({"torch", "lightning", "imblearn"} - expected) & libs


def test_the_lightning_adapter_fingerprints_only_lightning_fits() -> None:
    from engine.steps import train

    rf = ModelSpec("rf", "sklearn", "sklearn.ensemble.RandomForestClassifier")
    mlp = ModelSpec("mlp", "lightning", None)
    code_rf, _ = node_provenance(train.fit_score, {"model": rf})
    code_mlp, _ = node_provenance(train.fit_score, {"model": mlp})
    assert code_rf != code_mlp
    assert provenance.module_fingerprint("engine.models.lightning") in code_mlp
