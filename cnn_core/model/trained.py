"""A loaded Keras image classifier with its metadata (the optional sidecar) and its description:
reading any model file (`.keras`, legacy `.h5` / `.hdf5`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from cnn_core import config
from cnn_core.model.anatomy import (
    InputNormalization,
    ModelDescription,
    UnsupportedModelError,
    describe_model,
)

TRAIN_COMMAND = "cnn-lens train  (in a clone: make train)"


class ModelNotFoundError(FileNotFoundError):
    """No trained model where one was expected; the message says how to train one."""


class ModelLoadError(RuntimeError):
    """A model file exists but cannot be loaded; the message says how to rebuild it."""


@dataclass
class TrainedModel:
    """A trained Keras image classifier with its metadata and its description.

    Attributes:
        model: the Keras model, input `(N, H, W, C)` float32 (model input: see `standardize`),
            output `(N, classes)` softmax probabilities or raw class scores.
        meta: the sidecar (`<stem>.json`), possibly empty: normalization, class names, data
            source, accuracy, history, confusion matrix (the seed's training writes them all).
        description: what the model is (`cnn_core.model.anatomy.describe_model`), built from `model`
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
        if not x.size:  # a model served alone
            return
        std = float(x.std())
        if std > 0:
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


def meta_path_for(model_path: Path) -> Path:
    """`cnn.json` beside `cnn.keras`."""
    return model_path.with_suffix(".json")


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
