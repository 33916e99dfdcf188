"""Training timelines: a checkpoint per epoch, read back, and what the network learned by then.

Training (`cnn_core.model.seed.train`) keeps the weights before the first step and after every
epoch; `save_checkpoints` writes them beside the model (`models/cnn_checkpoints/epoch_00.keras` ...,
with `index.json` holding each epoch's loss and accuracies), atomically. A user's folder of
`.keras` files saved by `keras.callbacks.ModelCheckpoint` works too: the epoch is read from the
file name (`epoch_07.keras`, `model.07-0.45.keras`, `weights-07.keras`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cnn_core.explain.activations import ActivationModel
from cnn_core.explain.compare import confusion_matrix
from cnn_core.model.trained import TrainedModel
from cnn_core.oip import AscentOptions, OipEngine, OipResult, objectives_for

INDEX = "index.json"
_EPOCH_WORD = re.compile(r"epoch[_\-.]?(\d+)", re.IGNORECASE)
_NUMBER = re.compile(r"(\d+)")


class TimelineError(ValueError):
    """A checkpoint folder that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Checkpoint:
    """One saved state of the model.

    Attributes:
        epoch: epochs trained (0: before the first step).
        path: the `.keras` file.
        metrics: what was measured then (`loss`, `accuracy`, `test_loss`, `test_accuracy`);
            empty for a folder without them.
    """

    epoch: int
    path: Path
    metrics: dict[str, float] = field(default_factory=dict)


def checkpoint_dir_for(model_path: str | os.PathLike[str]) -> Path:
    """`models/cnn_checkpoints` beside `models/cnn.keras`."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}_checkpoints")


# writing ------------------------------------------------------------------------------------


class EpochSnapshots(keras.callbacks.Callback):
    """Keeps the weights and metrics after every epoch (and, via `take`, before the first).

    Attributes:
        snapshots: `[(epoch, weights, metrics)]` in order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[tuple[int, list[np.ndarray], dict[str, float]]] = []

    def take(self, epoch: int, model: keras.Model, metrics: dict[str, float]) -> None:
        self.snapshots.append((epoch, [w.copy() for w in model.get_weights()], dict(metrics)))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        metrics = {
            "loss": logs.get("loss"),
            "accuracy": logs.get("accuracy"),
            "test_loss": logs.get("val_loss"),
            "test_accuracy": logs.get("val_accuracy"),
        }
        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        self.take(epoch + 1, self.model, clean)


def save_checkpoints(
    folder: str | os.PathLike[str],
    model: keras.Model,
    snapshots: Sequence[tuple[int, list[np.ndarray], dict[str, float]]],
) -> Path:
    """Write one `.keras` file per snapshot and `index.json`, replacing `folder` atomically.

    The files are written into a temporary folder beside it, which then takes its place: a
    reader sees the old timeline or the new one, never half of one.

    Args:
        folder: where (e.g. `checkpoint_dir_for(model_path)`).
        model: the architecture (its weights are not changed: a copy is saved).
        snapshots: `(epoch, weights, metrics)` per checkpoint.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    copy = keras.models.clone_model(model)
    entries = []
    for epoch, weights, metrics in snapshots:
        copy.set_weights(weights)
        name = f"epoch_{epoch:02d}.keras"
        copy.save(tmp / name)
        entries.append({"epoch": int(epoch), "file": name, **metrics})
    (tmp / INDEX).write_text(json.dumps({"checkpoints": entries}, indent=1))
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


# reading ------------------------------------------------------------------------------------


def epoch_from_name(name: str) -> int | None:
    """The epoch in a checkpoint's file name: after "epoch" if present, else the first number.

    >>> epoch_from_name("epoch_07.keras"), epoch_from_name("model.07-0.45.keras")
    (7, 7)
    """
    stem = Path(name).name.removesuffix(".keras")
    match = _EPOCH_WORD.search(stem) or _NUMBER.search(stem)
    return int(match.group(1)) if match else None


def find_checkpoints(folder: str | os.PathLike[str]) -> list[Checkpoint]:
    """The checkpoints in `folder`, by epoch.

    Raises:
        TimelineError: no folder, no `.keras` file, a file without an epoch in its name, two
            files of one epoch, or a broken `index.json`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TimelineError(f"{folder}: no such checkpoint folder")
    metrics: dict[str, dict[str, float]] = {}
    index = folder / INDEX
    if index.is_file():
        try:
            entries = json.loads(index.read_text())["checkpoints"]
            metrics = {
                e["file"]: {k: float(v) for k, v in e.items() if k not in ("file", "epoch")}
                for e in entries
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise TimelineError(f"{index}: broken index ({exc})") from exc
    found: dict[int, Checkpoint] = {}
    for path in sorted(folder.glob("*.keras")):
        epoch = epoch_from_name(path.name)
        if epoch is None:
            raise TimelineError(f"{path}: no epoch number in the file name")
        if epoch in found:
            raise TimelineError(f"{path}: epoch {epoch} again (also {found[epoch].path.name})")
        found[epoch] = Checkpoint(epoch, path, metrics.get(path.name, {}))
    if not found:
        raise TimelineError(f"{folder}: no .keras checkpoints")
    return [found[epoch] for epoch in sorted(found)]


def architecture(model: keras.Model) -> list[tuple[str, tuple[tuple[int, ...], ...]]]:
    """Layer types and weight shapes, input to output: equal for checkpoints of one model."""
    return [
        (type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))
        for layer in model.layers
    ]


def load_checkpoints(
    checkpoints: Sequence[Checkpoint], reference: TrainedModel
) -> list[TrainedModel]:
    """Load every checkpoint (`safe_mode=True`) as a model described like `reference`.

    Raises:
        TimelineError: a file that does not load, or another architecture than `reference`
            (the message names the file).
    """
    expected = architecture(reference.model)
    models = []
    for checkpoint in checkpoints:
        try:
            model = keras.saving.load_model(checkpoint.path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises many types for a damaged archive
            raise TimelineError(f"{checkpoint.path}: cannot load ({exc})") from exc
        if architecture(model) != expected:
            raise TimelineError(
                f"{checkpoint.path}: not the same architecture as {reference.desc.name} "
                "(layer types or weight shapes differ)"
            )
        models.append(TrainedModel(model, reference.meta, reference.desc))
    return models


# what changes ---------------------------------------------------------------------------------


class Timeline:
    """A model's checkpoints, with what each epoch computes, built lazily and kept.

    Thread-safe: each epoch's activation model and confusion matrix is built once.

    Args:
        reference: the final model (its description and normalization serve every epoch).
        checkpoints: from `find_checkpoints`.
        models: from `load_checkpoints`, one per checkpoint.
    """

    def __init__(
        self,
        reference: TrainedModel,
        checkpoints: Sequence[Checkpoint],
        models: Sequence[TrainedModel],
    ) -> None:
        if len(checkpoints) != len(models) or not models:
            raise TimelineError("need one model per checkpoint, at least one")
        self.reference = reference
        self.checkpoints = list(checkpoints)
        self.models = list(models)
        self._acts: dict[int, ActivationModel] = {}
        self._confusions: dict[tuple[int, int], np.ndarray] = {}
        self._engine: OipEngine | None = None
        self._lock = threading.Lock()
        self._epoch_locks = [threading.Lock() for _ in models]

    @classmethod
    def load(cls, folder: str | os.PathLike[str], reference: TrainedModel) -> Timeline:
        checkpoints = find_checkpoints(folder)
        return cls(reference, checkpoints, load_checkpoints(checkpoints, reference))

    @property
    def epochs(self) -> list[int]:
        return [c.epoch for c in self.checkpoints]

    def index_of(self, epoch: int) -> int:
        """Position of `epoch` in the timeline.

        Raises:
            TimelineError: no checkpoint of that epoch.
        """
        try:
            return self.epochs.index(epoch)
        except ValueError:
            raise TimelineError(
                f"no checkpoint of epoch {epoch}; epochs {self.epochs[0]}-{self.epochs[-1]}"
            ) from None

    def activation_model(self, i: int) -> ActivationModel:
        """The `ActivationModel` of checkpoint `i`, built on first use (about a second)."""
        with self._epoch_locks[i]:
            if i not in self._acts:
                self._acts[i] = ActivationModel(self.models[i])
            return self._acts[i]

    def confusion(self, i: int, x_std: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """`(classes, classes)` int64 confusion matrix of checkpoint `i` on `x_std` (cached per
        checkpoint and image set size)."""
        key = (i, len(x_std))
        with self._epoch_locks[i]:
            cached = self._confusions.get(key)
        if cached is None:
            # one eager call per 1,000 images: no traced function to build for a checkpoint
            # whose grid nobody has asked for yet
            model = self.models[i].model
            scores = np.concatenate(
                [
                    np.asarray(model(x_std[j : j + 1000], training=False))
                    for j in range(0, len(x_std), 1000)
                ]
            )
            n = self.reference.desc.num_classes
            cached = confusion_matrix(labels, scores.argmax(axis=1), n)
            with self._epoch_locks[i]:
                self._confusions[key] = cached
        return cached

    def confusions(self, x_std: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """`(checkpoints, classes, classes)` int64: `confusion` of every checkpoint."""
        return np.stack([self.confusion(i, x_std, labels) for i in range(len(self.models))])

    def warm(self, x_std: np.ndarray, labels: np.ndarray) -> None:
        """Compute every checkpoint's confusion matrix, then build its activation model, now (so
        that moving an epoch slider never waits for one): about a second per checkpoint."""
        self.confusions(x_std, labels)
        for i in range(len(self.models)):
            self.activation_model(i)

    def accuracy_curve(self, x_std: np.ndarray, labels: np.ndarray) -> list[float]:
        """Test accuracy per checkpoint: from the checkpoints' metrics, else computed."""
        if all("test_accuracy" in c.metrics for c in self.checkpoints):
            return [c.metrics["test_accuracy"] for c in self.checkpoints]
        return [
            float(np.trace(self.confusion(i, x_std, labels)) / max(len(labels), 1))
            for i in range(len(self.models))
        ]

    def oip_engine(self) -> OipEngine:
        """One engine over every checkpoint (`OipEngine(variants=...)`), built on first use."""
        with self._lock:
            if self._engine is None:
                self._engine = OipEngine(self.reference, variants=self.models)
            return self._engine

    def oips(
        self,
        layer: str,
        units: Sequence[int],
        steps: int = 200,
        seed: int = 0,
        callback: Callable[[Any], bool | None] | None = None,
        every: int = 10,
        **options: Any,
    ) -> OipResult:
        """OIPs of `units` of `layer` at every checkpoint, as ONE batched run.

        Returns:
            `OipResult` of `len(checkpoints) * len(units)` images, checkpoint-major (image
            `e * len(units) + u`), all from the same starting noise.
        """
        objectives = objectives_for(layer, list(units), self.reference.desc)
        opts = AscentOptions(steps=steps, **options)
        return self.oip_engine().run_variants(objectives, seed, opts, callback, every)


def settling(images: np.ndarray, epochs: int) -> np.ndarray:
    """How close each unit's OIP is to its final one, per epoch.

    Args:
        images: `(epochs * units, ...)` OIPs, checkpoint-major (as `Timeline.oips` gives them).
        epochs: number of checkpoints.

    Returns:
        `(units, epochs)` float32 Pearson correlation of the unit's OIP at each epoch with its
        OIP at the last epoch (1.0 at the last epoch).
    """
    flat = np.asarray(images, dtype=np.float64).reshape(epochs, -1, int(np.prod(images.shape[1:])))
    final = flat[-1]
    centred = flat - flat.mean(axis=2, keepdims=True)
    final_c = final - final.mean(axis=1, keepdims=True)
    num = (centred * final_c[None]).sum(axis=2)
    den = np.sqrt((centred**2).sum(axis=2) * (final_c**2).sum(axis=1)[None]) + 1e-12
    return (num / den).T.astype(np.float32)
