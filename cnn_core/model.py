"""The seed CNN: build it, train it reproducibly, save and load it with its metadata."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from cnn_core import config
from cnn_core.anatomy import (
    InputNormalization,
    ModelDescription,
    UnsupportedModelError,
    describe_model,
)
from cnn_core.data import MnistData

TRAIN_COMMAND = "make train  (or: python -m cnn_core.train)"


class ModelNotFoundError(FileNotFoundError):
    """No trained model where one was expected; the message says how to train one."""


class ModelLoadError(RuntimeError):
    """A model file exists but cannot be loaded; the message says how to rebuild it."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (article III: SGD, momentum, L2, a schedule)."""

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 0.05
    momentum: float = 0.9
    l2: float = 1e-4
    schedule: str = "cosine"  # "cosine", "step" (halve every `step_epochs`) or "constant"
    step_epochs: int = 5
    seed: int = 42

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "step", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}; use cosine, step or constant")
        if self.epochs < 1 or self.batch_size < 1 or self.step_epochs < 1:
            raise ValueError("epochs, batch_size and step_epochs must be >= 1")
        if not (self.learning_rate > 0 and 0 <= self.momentum < 1 and self.l2 >= 0):
            raise ValueError("need learning_rate > 0, 0 <= momentum < 1, l2 >= 0")


@dataclass
class TrainedModel:
    """A trained Keras image classifier with its metadata and its description.

    Attributes:
        model: the Keras model, input `(N, H, W, C)` float32 (model input: see `standardize`),
            output `(N, classes)` softmax probabilities or raw class scores.
        meta: the sidecar (`<stem>.json`), possibly empty: normalization, class names, data
            source, accuracy, history, confusion matrix (the seed's training writes them all).
        description: what the model is (`cnn_core.anatomy.describe_model`), built from `model`
            and `meta` if not given.

    Raises:
        UnsupportedModelError: the model cannot be described (one-line reason).
    """

    model: keras.Model
    meta: dict[str, Any] = field(default_factory=dict)
    description: ModelDescription | None = None
    #: `(epoch, weights, metrics)` kept by training (epoch 0: before the first step); written
    #: by `save_trained` as the model's checkpoint folder.
    snapshots: list[tuple[int, list[np.ndarray], dict[str, float]]] = field(
        default_factory=list, repr=False
    )

    def __post_init__(self) -> None:
        if self.description is None:
            channels = int(self.model.inputs[0].shape[-1]) if self.model.inputs else 1
            try:
                normalization = InputNormalization.from_sidecar(
                    self.meta.get("normalization"), channels
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise UnsupportedModelError(f"sidecar normalization: {exc}") from exc
            self.description = describe_model(
                self.model, self.meta.get("class_names"), normalization
            )
        stats = self.meta.get("pixel_stats")
        self._sidecar_stats: tuple[float, float] | None = None
        if isinstance(stats, dict) and {"mean", "std"} <= set(stats):
            self._sidecar_stats = (float(stats["mean"]), float(stats["std"]))
        self._data_stats: tuple[float, float] | None = None

    @property
    def desc(self) -> ModelDescription:
        """The description (never None after construction)."""
        assert self.description is not None
        return self.description

    @property
    def normalization(self) -> InputNormalization:
        return self.desc.normalization

    @property
    def mean(self) -> float:
        """The normalization's (first) mean, pixel units."""
        return float(self.normalization.mean[0])

    @property
    def std(self) -> float:
        """The normalization's (first) std, pixel units."""
        return float(self.normalization.std[0])

    @property
    def pixel_range(self) -> tuple[float, float]:
        """The data's raw pixel range: the sidecar's `pixel_range`, else 0-255."""
        low, high = self.meta.get("pixel_range", (0.0, 255.0))
        return float(low), float(high)

    @property
    def pixel_stats(self) -> tuple[float, float]:
        """`(mean, std)` of the training pixels, pixel units: the space OIPs are optimized in.

        The sidecar's `pixel_stats`, else its global mean/std normalization (the seed's: the
        training pixels' own), else the data's (`set_pixel_stats`), else the pixel range's middle
        and a quarter of its width.
        """
        if self._sidecar_stats is not None:
            return self._sidecar_stats
        if self.normalization.source == "sidecar mean/std" and len(self.normalization.mean) == 1:
            return self.mean, self.std
        if self._data_stats is not None:
            return self._data_stats
        low, high = self.pixel_range
        return (low + high) / 2, (high - low) / 4

    def set_pixel_stats(self, images: np.ndarray) -> None:
        """Give the training images (any shape, pixel units) for `pixel_stats`, used when the
        sidecar gives none. Call before the model's OIP engine is built."""
        x = np.asarray(images, dtype=np.float64)
        std = float(x.std())
        if x.size and std > 0:
            self._data_stats = (float(x.mean()), std)

    def as_batch(self, images: np.ndarray) -> np.ndarray:
        """`(H, W)`, `(H, W, C)`, `(N, H, W)` or `(N, H, W, C)` -> `(N, H, W, C)` float32.

        Raises:
            ValueError: the images do not have the model's size and channels.
        """
        x = np.asarray(images, dtype=np.float32)
        h, w, c = self.desc.input_shape
        if x.ndim == 2 or (x.ndim == 3 and x.shape == (h, w, c) and c != 1):
            x = x[None]
        if x.ndim == 3 and c == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[1:] != (h, w, c):
            grey = f"(N, {h}, {w}[, 1])" if c == 1 else f"(N, {h}, {w}, {c})"
            raise ValueError(f"expected {grey} images, got {x.shape}")
        return x

    def standardize(self, images: np.ndarray) -> np.ndarray:
        """Raw pixels to model input, with the sidecar's normalization (identity without one).

        Args:
            images: `(N, H, W)` (one channel) or `(N, H, W, C)` uint8 or float pixel values.

        Returns:
            `(N, H, W, C)` float32 model input (for the seed: `(x - mean) / std`).
        """
        return self.normalization.to_model(self.as_batch(images))

    def unstandardize(self, x_std: np.ndarray) -> np.ndarray:
        """Inverse of `standardize`: `(N, H, W, C)` float32 model input -> pixels (not clipped)."""
        return self.normalization.to_pixels(self.as_batch(x_std))


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


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int = 10) -> np.ndarray:
    """`(n, n)` int64 counts, rows = true class, columns = predicted class."""
    return np.bincount(np.asarray(y_true) * n + np.asarray(y_pred), minlength=n * n).reshape(n, n)


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
    from cnn_core.timeline import EpochSnapshots  # (timeline builds on this module)

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


def meta_path_for(model_path: Path) -> Path:
    """`cnn.json` beside `cnn.keras`."""
    return model_path.with_suffix(".json")


def save_trained(trained: TrainedModel, path: Path | None = None) -> Path:
    """Write `cnn.keras` and `cnn.json` atomically (a running app never sees half a model),
    and the training's epoch checkpoints (`cnn_checkpoints/`, see `cnn_core.timeline`)."""
    path = Path(path or config.default_model_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    if trained.snapshots:
        from cnn_core.timeline import checkpoint_dir_for, save_checkpoints

        folder = save_checkpoints(checkpoint_dir_for(path), trained.model, trained.snapshots)
        trained.meta["checkpoints"] = folder.name
    tmp_model = path.with_name(f".{path.stem}.tmp.keras")
    tmp_meta = path.with_name(f".{path.stem}.tmp.json")
    trained.model.save(tmp_model)
    tmp_meta.write_text(json.dumps(trained.meta, indent=1))
    os.replace(tmp_model, path)
    os.replace(tmp_meta, meta_path_for(path))
    return path


def load_trained(path: str | os.PathLike[str] | None = None) -> TrainedModel:
    """Load any Keras 3 image classifier (`.keras`, `safe_mode=True`) and its optional sidecar.

    The sidecar `<stem>.json` beside the model may hold `normalization` (`{"mean", "std"}` or
    `{"scale"[, "offset"]}`, per channel or global), `class_names`, `pixel_range`,
    `pixel_stats`, `data` and training figures. Without it the model is fed pixel values as
    they are and its classes are numbered.

    Args:
        path: the `.keras` file; default `config.default_model_path()`.

    Raises:
        ModelNotFoundError: no model there (the message names the training command).
        ModelLoadError: the file or its sidecar is broken, or the model cannot be shown (one
            line naming the layer and the reason).
    """
    path = Path(path or config.default_model_path())
    meta_path = meta_path_for(path)
    if not path.is_file():
        raise ModelNotFoundError(f"no trained model at {path}; train one with: {TRAIN_COMMAND}")
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict):
                raise ValueError(f"expected a JSON object, got {type(meta).__name__}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"{meta_path}: broken sidecar ({exc})") from exc
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise ModelLoadError(
            f"{path}: cannot load model ({exc}); retrain: {TRAIN_COMMAND}"
        ) from exc
    try:
        return TrainedModel(model, meta)
    except UnsupportedModelError as exc:
        raise ModelLoadError(f"{path}: {exc}") from exc
