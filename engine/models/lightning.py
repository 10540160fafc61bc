"""Tabular MLPs trained with Lightning, behind the scikit-learn estimator contract.

``kind: lightning`` models are these classes, so they sit in the same Pipeline as any
sklearn estimator (preprocessing in front, imbalance handling, CV, refit, serving).
This is the only module of Sous that imports torch or Lightning, and it does so inside
``fit``/``predict``: importing the module costs nothing.

Training: CPU by default (``accelerator: gpu`` to use a GPU, which also routes the step to
GPU workers on a cluster), one torch thread, ``num_workers=0`` data loading (Dask workers
are daemonic), deterministic seeding, a validation slice held out of the training data for
early stopping on validation loss, and the best epoch's weights restored from a checkpoint
written to a temporary directory. The fitted estimator keeps a plain CPU ``torch.nn``
network, so it pickles with pickle and cloudpickle.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import Tags

from engine.errors import UserError


def _make_net(n_in: int, hidden: Sequence[int], n_out: int, dropout: float) -> Any:
    import torch

    layers: list[Any] = []
    width = n_in
    for h in hidden:
        layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU()]
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
        width = int(h)
    layers.append(torch.nn.Linear(width, n_out))
    return torch.nn.Sequential(*layers)


@functools.cache
def _lightning_classes() -> tuple[type, type]:
    """The LightningModule and the loss-recording callback, defined on first use so that
    importing this module does not import Lightning."""
    import lightning.pytorch as pl
    import torch

    class MLPModule(pl.LightningModule):
        def __init__(self, net: Any, loss: Any, lr: float, weight_decay: float) -> None:
            super().__init__()
            self.net, self.loss_fn, self.lr, self.weight_decay = net, loss, lr, weight_decay

        def _step(self, batch: Any, name: str) -> Any:
            x, y = batch
            loss = self.loss_fn(self.net(x), y)
            self.log(name, loss, on_step=False, on_epoch=True, batch_size=len(x))
            return loss

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self._step(batch, "train_loss")

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            return self._step(batch, "val_loss")

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    class LossRecorder(pl.Callback):
        def __init__(self) -> None:
            self.val: list[float] = []
            self.train: list[float] = []

        def on_validation_epoch_end(self, trainer: Any, module: Any) -> None:
            self.val.append(float(trainer.callback_metrics["val_loss"]))

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.train.append(float(trainer.callback_metrics["train_loss"]))

    return MLPModule, LossRecorder


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Lightning's banners (GPU/TPU lines, tips) and its known-harmless warnings
    for one fit: a sweep of many small fits should not flood the run's log."""
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PossibleUserWarning)
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def _patience(early_stopping: Any) -> tuple[int, float] | None:
    """``early_stopping`` as (patience, min_delta): None/False off, an int is the patience,
    a mapping has ``patience`` and optional ``min_delta``."""
    if early_stopping is None or early_stopping is False:
        return None
    if isinstance(early_stopping, int) and not isinstance(early_stopping, bool):
        return early_stopping, 0.0
    if isinstance(early_stopping, Mapping) and set(early_stopping) <= {"patience", "min_delta"}:
        return int(early_stopping.get("patience", 5)), float(early_stopping.get("min_delta", 0.0))
    raise UserError(
        f"early_stopping must be {{patience: N, min_delta: X}}, an int or null, "
        f"got {early_stopping!r}",
        key_path="models.<name>.early_stopping",
        hint="e.g. early_stopping: {patience: 5}",
    )


class _TabularMLP(BaseEstimator):
    """Shared fit loop; subclasses define the target checks and encoding, loss and outputs.

    Input checks are scikit-learn's own (``validate_data``, ``check_is_fitted``), so a bad
    input fails at the door with scikit-learn's message instead of deep inside torch.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # dense, finite, 2-D numeric input; one target column
        tags.input_tags.two_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.input_tags.string = False
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        tags.non_deterministic = False  # seeded, deterministic Trainer
        return tags

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _check_y(self, y: np.ndarray) -> None:
        """Refuse targets the model cannot learn (validate_data made ``y`` 1-D already)."""
        raise NotImplementedError

    def _encode_y(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _loss(self, y: np.ndarray) -> Any:
        raise NotImplementedError

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows for training and for the validation slice (empty when too few rows)."""
        n = len(y)
        n_val = round(n * self.validation_fraction)
        order = np.random.default_rng(self.seed).permutation(n)
        if n_val < 1 or n - n_val < 1:
            return order, order[:0]
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _loader(self, x: np.ndarray, y: np.ndarray, shuffle: bool) -> Any:
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        gen = torch.Generator().manual_seed(self.seed)
        data = TensorDataset(torch.from_numpy(_writable(x)), torch.from_numpy(_writable(y)))
        return DataLoader(
            data, batch_size=self.batch_size, shuffle=shuffle, generator=gen, num_workers=0
        )

    def fit(self, X: Any, y: Any) -> _TabularMLP:
        """Train; returns self. ``val_losses_`` holds one validation loss per epoch."""
        import torch
        from sklearn.utils.validation import validate_data

        x, y = validate_data(
            self, X, y, dtype=np.float32, y_numeric=isinstance(self, RegressorMixin)
        )
        self._check_y(y)
        torch.set_num_threads(1)
        torch.manual_seed(self.seed)
        target = self._encode_y(y)
        tr, va = self._split(target)
        net = _make_net(x.shape[1], tuple(self.hidden), self._n_outputs(), self.dropout)
        module_cls, recorder_cls = _lightning_classes()
        module = module_cls(net, self._loss(target[tr]), self.lr, self.weight_decay)
        recorder = recorder_cls()
        with tempfile.TemporaryDirectory(prefix="sous-mlp-") as tmp, _quiet():
            best = self._train(module, recorder, x, target, tr, va, tmp)
            if best:
                state = torch.load(best, map_location="cpu", weights_only=True)
                module.load_state_dict(state["state_dict"])
        self.net_ = module.net.cpu().eval()
        self.val_losses_ = tuple(recorder.val)
        self.train_losses_ = tuple(recorder.train)
        self.n_epochs_ = len(recorder.train)
        return self

    def _train(
        self,
        module: Any,
        recorder: Any,
        x: np.ndarray,
        y: np.ndarray,
        tr: np.ndarray,
        va: np.ndarray,
        tmp: str,
    ) -> str | None:
        """Run the Trainer; returns the best checkpoint's path (None without validation)."""
        import lightning.pytorch as pl
        from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

        callbacks: list[Any] = [recorder]
        ckpt = None
        has_val = len(va) > 0
        if has_val:
            ckpt = ModelCheckpoint(
                dirpath=tmp, monitor="val_loss", mode="min", save_top_k=1, save_weights_only=True
            )
            callbacks.append(ckpt)
            stop = _patience(self.early_stopping)
            if stop:
                callbacks.append(EarlyStopping("val_loss", patience=stop[0], min_delta=stop[1]))
        trainer = pl.Trainer(
            max_epochs=self.max_epochs,
            accelerator=self.accelerator,
            devices=1,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            deterministic=True,
            default_root_dir=tmp,
            callbacks=callbacks,
            num_sanity_val_steps=0,
        )
        val_loader = self._loader(x[va], y[va], shuffle=False) if has_val else None
        trainer.fit(module, self._loader(x[tr], y[tr], shuffle=True), val_loader)
        return ckpt.best_model_path if ckpt and ckpt.best_model_path else None

    def _forward(self, X: Any) -> np.ndarray:
        import torch
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        x = validate_data(self, X, dtype=np.float32, reset=False)
        with torch.no_grad():
            return self.net_(torch.from_numpy(_writable(x))).numpy()


def _writable(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous writable array (torch refuses read-only memory, e.g. a
    memory-mapped array joblib hands over), copied only when needed."""
    return np.require(a, requirements=["C", "W"])


class TabularMLPClassifier(ClassifierMixin, _TabularMLP):
    """MLP classifier. ``class_weight``: None, "balanced" or {class: weight}."""

    def __init__(
        self,
        hidden: Sequence[int] = (64, 32),
        max_epochs: int = 20,
        lr: float = 1e-3,
        batch_size: int = 64,
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        early_stopping: Any = None,
        validation_fraction: float = 0.1,
        accelerator: str = "cpu",
        seed: int = 0,
        class_weight: Any = None,
    ) -> None:
        self.hidden, self.max_epochs, self.lr, self.batch_size = hidden, max_epochs, lr, batch_size
        self.weight_decay, self.dropout, self.early_stopping = weight_decay, dropout, early_stopping
        self.validation_fraction, self.accelerator, self.seed = (
            validation_fraction,
            accelerator,
            seed,
        )
        self.class_weight = class_weight

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _check_y(self, y: np.ndarray) -> None:
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)

    def _encode_y(self, y: np.ndarray) -> np.ndarray:
        self.classes_, codes = np.unique(y, return_inverse=True)
        return codes.astype(np.int64)

    def _loss(self, y: np.ndarray) -> Any:
        import torch
        from sklearn.utils.class_weight import compute_class_weight

        weight = None
        cw = self.class_weight
        if cw is not None:
            w = np.ones(len(self.classes_), dtype=np.float32)
            if isinstance(cw, Mapping):  # {label: weight}; a label not a class is refused
                w[:] = compute_class_weight(dict(cw), classes=self.classes_, y=self.classes_[y])
            else:  # "balanced", over the classes present in the training slice
                present = np.unique(y)
                w[present] = compute_class_weight(cw, classes=present, y=y)
            weight = torch.from_numpy(w)
        return torch.nn.CrossEntropyLoss(weight=weight)

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self._forward(X)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        logits = self._forward(X)
        return self.classes_[np.argmax(logits, axis=1)]


class TabularMLPRegressor(RegressorMixin, _TabularMLP):
    """MLP regressor; the target is standardised for training and restored on predict."""

    def __init__(
        self,
        hidden: Sequence[int] = (64, 32),
        max_epochs: int = 20,
        lr: float = 1e-3,
        batch_size: int = 64,
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        early_stopping: Any = None,
        validation_fraction: float = 0.1,
        accelerator: str = "cpu",
        seed: int = 0,
    ) -> None:
        self.hidden, self.max_epochs, self.lr, self.batch_size = hidden, max_epochs, lr, batch_size
        self.weight_decay, self.dropout, self.early_stopping = weight_decay, dropout, early_stopping
        self.validation_fraction, self.accelerator, self.seed = (
            validation_fraction,
            accelerator,
            seed,
        )

    def _n_outputs(self) -> int:
        return 1

    def _check_y(self, y: np.ndarray) -> None:
        """Nothing more: ``validate_data(y_numeric=True)`` refused non-numbers, NaN, inf."""

    def _encode_y(self, y: np.ndarray) -> np.ndarray:
        arr = np.asarray(y, dtype=np.float64)
        self.y_mean_, self.y_std_ = float(arr.mean()), float(arr.std() or 1.0)
        return ((arr - self.y_mean_) / self.y_std_).astype(np.float32).reshape(-1, 1)

    def _loss(self, y: np.ndarray) -> Any:
        import torch

        return torch.nn.MSELoss()

    def predict(self, X: Any) -> np.ndarray:
        return self._forward(X)[:, 0].astype(np.float64) * self.y_std_ + self.y_mean_
