"""The seed CNN (articles II-IV): build it, train it reproducibly, save it with its metadata and
its epoch checkpoints."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from cnn_core import config
from cnn_core.data.sources import MnistData
from cnn_core.explain.compare import confusion_matrix
from cnn_core.explain.timeline import EpochSnapshots, checkpoint_dir_for, save_checkpoints
from cnn_core.model.trained import TrainedModel, meta_path_for
from cnn_core.training_options import TrainConfig

SEED_PARAMETER_COUNT = 208_982


def build_seed_cnn(l2: float = 1e-4) -> keras.Model:
    """The seed architecture (articles II-IV): 208,982 parameters.

    Args:
        l2: L2 penalty on every kernel (0 disables it).

    Returns:
        An uncompiled functional model, input `(N, 28, 28, 1)` float32, output `(N, 10)` softmax,
        with layers named Conv2D_1, Max_Pool_1, Conv2D_2, Max_Pool_2, Conv2D_3, Flatten,
        Dense_1, Dense_2 (the articles' names).
    """
    reg = keras.regularizers.L2(l2) if l2 > 0 else None
    conv = dict(kernel_size=(3, 3), activation="relu", kernel_regularizer=reg)
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = keras.layers.Conv2D(32, name="Conv2D_1", **conv)(inputs)
    x = keras.layers.MaxPooling2D((2, 2), name="Max_Pool_1")(x)
    x = keras.layers.Conv2D(64, name="Conv2D_2", **conv)(x)
    x = keras.layers.MaxPooling2D((2, 2), name="Max_Pool_2")(x)
    x = keras.layers.Conv2D(128, name="Conv2D_3", **conv)(x)
    x = keras.layers.Flatten(name="Flatten")(x)
    x = keras.layers.Dense(100, activation="relu", kernel_regularizer=reg, name="Dense_1")(x)
    outputs = keras.layers.Dense(10, activation="softmax", kernel_regularizer=reg, name="Dense_2")(
        x
    )
    return keras.Model(inputs, outputs, name="seed_cnn")


def learning_rate_schedule(cfg: TrainConfig, steps_per_epoch: int) -> Any:
    """The learning-rate schedule of `cfg`: a Keras schedule or a constant float."""
    if cfg.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            cfg.learning_rate, cfg.epochs * steps_per_epoch
        )
    if cfg.schedule == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, cfg.step_epochs * steps_per_epoch, 0.5, staircase=True
        )
    return cfg.learning_rate


EpochCallback = Callable[[int, dict[str, float]], None]


def train(
    data: MnistData,
    cfg: TrainConfig = TrainConfig(),
    on_batch: Callable[[int, int, dict[str, float]], None] | None = None,
) -> TrainedModel:
    """Train the seed CNN on `data.x_train`, evaluate on `data.x_test`.

    Seeded (`keras.utils.set_random_seed`); inputs standardized with the train set's global
    mean and std. The per-epoch history records the test split's loss and accuracy too (as
    the seed does); it is not used for any choice during training.

    Args:
        data: the digits.
        cfg: hyper-parameters.
        on_batch: called after every batch with `(epoch, batch, logs)`, e.g. for a progress bar.

    Returns:
        The trained model with its metadata (not yet saved; see `save_trained`).
    """
    started = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    mean = float(data.x_train.mean())
    std = float(data.x_train.std())
    trained = TrainedModel(build_seed_cnn(cfg.l2), {"normalization": {"mean": mean, "std": std}})
    x_train, x_test = trained.standardize(data.x_train), trained.standardize(data.x_test)
    steps = math.ceil(len(x_train) / cfg.batch_size)
    optimizer = keras.optimizers.SGD(learning_rate_schedule(cfg, steps), momentum=cfg.momentum)
    model = trained.model
    model.compile(optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    snapshots = EpochSnapshots()
    snapshots.take(
        0,
        model,
        {
            **_loss_and_accuracy(model, x_train, data.y_train),
            **_loss_and_accuracy(model, x_test, data.y_test, prefix="test_"),
        },
    )
    callbacks: list[keras.callbacks.Callback] = [snapshots]
    if on_batch is not None:
        callbacks.append(_BatchHook(on_batch))
    fit = model.fit(
        x_train,
        data.y_train,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        validation_data=(x_test, data.y_test),
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    probs = np.asarray(model(x_test, training=False))
    y_pred = probs.argmax(axis=1)
    history = {key: [float(v) for v in values] for key, values in fit.history.items()}
    trained.snapshots = snapshots.snapshots
    trained.meta.update(
        {
            "format": 1,
            "test_accuracy": float((y_pred == data.y_test).mean()),
            "test_loss": history["val_loss"][-1],
            "train_accuracy": history["accuracy"][-1],
            "history": {
                "epoch": list(range(1, cfg.epochs + 1)),
                "loss": history["loss"],
                "accuracy": history["accuracy"],
                "test_loss": history["val_loss"],
                "test_accuracy": history["val_accuracy"],
            },
            "confusion_matrix": confusion_matrix(data.y_test, y_pred).tolist(),
            "compare_pair": [4, 9],  # the articles' pair (article VI)
            "data": {
                "source": data.source,
                "fingerprint": data.fingerprint,
                "n_train": len(data.x_train),
                "n_test": len(data.x_test),
            },
            "config": asdict(cfg),
            "parameters": int(model.count_params()),
            "seconds": round(time.perf_counter() - started, 2),
            "versions": {"keras": keras.__version__, "backend": keras.backend.backend()},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    return trained


def _loss_and_accuracy(
    model: keras.Model, x: np.ndarray, y: np.ndarray, prefix: str = "", batch: int = 1000
) -> dict[str, float]:
    """Cross-entropy and accuracy of a softmax model on `(x, y)` (no random state used)."""
    proba = np.concatenate(
        [np.asarray(model(x[i : i + batch], training=False)) for i in range(0, len(x), batch)]
    )
    picked = np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0)
    return {
        f"{prefix}loss": float(-np.log(picked).mean()),
        f"{prefix}accuracy": float((proba.argmax(axis=1) == y).mean()),
    }


class _BatchHook(keras.callbacks.Callback):
    def __init__(self, fn: Callable[[int, int, dict[str, float]], None]) -> None:
        super().__init__()
        self._fn = fn
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._fn(self._epoch, batch, {k: float(v) for k, v in (logs or {}).items()})


def save_trained(trained: TrainedModel, path: Path | None = None) -> Path:
    """Write `cnn.keras` and `cnn.json` atomically (a running app never sees half a model),
    and the training's epoch checkpoints (`cnn_checkpoints/`, see `cnn_core.explain.timeline`)."""
    path = Path(path or config.default_model_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    if trained.snapshots:
        folder = save_checkpoints(checkpoint_dir_for(path), trained.model, trained.snapshots)
        trained.meta["checkpoints"] = folder.name
    tmp_model = path.with_name(f".{path.stem}.tmp.keras")
    tmp_meta = path.with_name(f".{path.stem}.tmp.json")
    trained.model.save(tmp_model)
    tmp_meta.write_text(json.dumps(trained.meta, indent=1))
    os.replace(tmp_model, path)
    os.replace(tmp_meta, meta_path_for(path))
    return path
