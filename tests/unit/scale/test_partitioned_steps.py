"""engine/steps/scale.py without a cluster: both partitioned kinds fit on every partition of
an out-of-core split and are scored on every valid row; other kinds keep the sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.errors import UserError
from engine.specs import ImbalanceSpec, ModelSpec, PreprocessSpec, frozen_map
from engine.steps import scale
from engine.steps.train import fit_score, refit

COLS = ["a", "b", "c", "kind"]


def _part(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["kind"] = np.where(x[:, 2] > 0, "p", "q")
    frame["y"] = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    return frame


@pytest.fixture
def split(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for part, files in (("train", 4), ("valid", 2), ("test", 1)):
        (tmp_path / part).mkdir()
        for i in range(files):
            _part(rng, 300).to_parquet(tmp_path / part / f"part-{i:05d}.parquet")
    return tmp_path


def _sample(split: Path) -> pd.DataFrame:
    frame = pd.read_parquet(split / "train" / "part-00000.parquet").head(100)
    return scale.mark(frame.reset_index(drop=True), str(split))


MODELS = {
    "xgb": ModelSpec("xgb", "dask_xgboost", None,
                     frozen_map({"n_estimators": 50, "early_stopping_rounds": 5})),
    "sgd": ModelSpec("sgd", "incremental", "sklearn.linear_model.SGDClassifier",
                     frozen_map({"loss": "log_loss", "batch_rows": 128, "epochs": 2})),
}  # fmt: skip
COMMON = {
    "target": "y",
    "task": "classification",
    "params": {},
    "preprocess": PreprocessSpec(numeric=frozen_map({"scale": "standard"})),
    "imbalance": ImbalanceSpec(),
    "features": COLS,
    "seed": 0,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_partitioned_kinds_fit_on_every_train_row_and_score_on_every_valid_row(
    split: Path, name: str
) -> None:
    frame = _sample(split)
    idx = np.arange(50)
    result = fit_score(frame, idx, np.arange(50, 100), model=MODELS[name], **COMMON)
    assert (result.n_train, result.n_valid) == (1200, 600)  # not the sample's 50 and 50
    assert result.metrics["accuracy"] > 0.85
    model = refit(frame, idx, model=MODELS[name], **COMMON)
    assert list(model.classes_) == ["no", "yes"]
    test = pd.read_parquet(split / "test")
    assert (model.predict(test[COLS]) == test["y"]).mean() > 0.85
    if name == "xgb":
        assert model[-1].trained_on_ == 1  # no Dask client here: trained in this process
    else:
        assert model[-1].n_blocks_ == 2 * 4 * 3  # epochs x files x ceil(300 / 128)


def test_other_kinds_and_unmarked_frames_keep_the_sample(split: Path) -> None:
    frame = _sample(split)
    rf = ModelSpec("lr", "sklearn", "sklearn.linear_model.LogisticRegression")
    result = fit_score(frame, np.arange(50), np.arange(50, 100), model=rf, **COMMON)
    assert (result.n_train, result.n_valid) == (50, 50)
    plain = frame.copy()
    plain.attrs.clear()
    result = fit_score(plain, np.arange(50), np.arange(50, 100), model=MODELS["sgd"], **COMMON)
    assert (result.n_train, result.n_valid) == (50, 50)


def test_resampling_is_refused_on_partitions(split: Path) -> None:
    with pytest.raises(UserError, match="cannot run on out-of-core partitions"):
        fit_score(_sample(split), np.arange(50), np.arange(50, 100), model=MODELS["sgd"],
                  **{**COMMON, "imbalance": ImbalanceSpec("oversample")})  # fmt: skip
