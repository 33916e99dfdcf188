"""The loaded data, model and activation model: built once per process, warmed up, shared."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core import config
from cnn_core.data.sources import ImageDataset, check_fits, load_for_model, numbered_classes
from cnn_core.explain.activations import ActivationModel
from cnn_core.explain.compare import comparison_pair, confusion_matrix
from cnn_core.explain.timeline import Timeline, TimelineError, checkpoint_dir_for
from cnn_core.model.anatomy import ModelDescription
from cnn_core.model.trained import TrainedModel, load_trained

log = logging.getLogger(__name__)

#: Key of the pre-softmax class scores in `Services.unit_table`: not a possible layer name
#: (Keras refuses "/" in names), so it cannot shadow a layer called "logits".
LOGITS = "/logits"
#: Training images whose mean amplitude spectrum MACO keeps (plenty for a stable mean).
SPECTRUM_IMAGES = 2_000


@dataclass
class Services:
    """Everything a callback reads; immutable after construction, so threads can share it.

    Attributes:
        data: the digits.
        trained: the trained model and its metadata.
        acts: the activation model (all layers, one traced graph).
        x_std: `{split: (N, H, W, C) float32}` the images as model input.
        proba: `{split: (N, classes) float32}` class probabilities of every image.
        confusion: `(classes, classes)` int64 confusion matrix of the test split, computed now.
        test_accuracy: accuracy on the test split, computed now.
        compare_pair: the classes the compare page opens with
            (`cnn_core.explain.compare.comparison_pair`: 4 and 9 for the seed).
    """

    data: ImageDataset
    trained: TrainedModel
    acts: ActivationModel
    x_std: dict[str, np.ndarray] = field(default_factory=dict)
    proba: dict[str, np.ndarray] = field(default_factory=dict)
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    test_accuracy: float = float("nan")
    compare_pair: tuple[int, int] = (0, 1)
    _tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    _tables_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    model_path: str = ""
    _timeline: Any = field(default=None, repr=False)
    _timeline_error: str | None = field(default=None, repr=False)
    _timeline_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, data_source: str | None = None, model_path: str | None = None) -> Services:
        """Load any model `load_trained` accepts and its data (`load_for_model`), evaluate it.

        Raises:
            ModelNotFoundError, ModelLoadError: the model cannot be used (one-line reason).
            DataError: the data is broken or does not fit the model (one-line reason).
        """
        path = config.default_model_path() if model_path is None else model_path
        trained = load_trained(path)
        desc = trained.desc
        data = load_for_model(
            data_source, path, trained.meta, desc.input_shape, num_classes=desc.num_classes
        )
        return cls.from_trained(trained, data, str(path))

    @classmethod
    def from_trained(
        cls, trained: TrainedModel, data: ImageDataset, model_path: str = ""
    ) -> Services:
        """The services of a model and data already in memory (`load` reads them from files;
        `app.notebook.show` passes a notebook's own): checked, evaluated, ready.

        Args:
            trained: the model; without a sidecar, it takes its class names from `data`.
            data: its images (`sources.no_data` for the model alone).
            model_path: the model's file, "" for a model that has none.

        Raises:
            DataError: the data does not fit the model (one-line reason).
        """
        desc = trained.desc
        check_fits(data, desc.input_shape, desc.num_classes)
        named = data.class_names != numbered_classes(data.num_classes)
        if "class_names" not in trained.meta and named and data.num_classes == desc.num_classes:
            # a model without a sidecar takes its class names from its data
            desc = trained.description = dataclasses.replace(desc, class_names=data.class_names)
        trained.set_pixel_stats(data.x_train)
        acts = ActivationModel(trained)
        services = cls(data, trained, acts, model_path=model_path)
        for split in ("train", "test"):
            x = trained.standardize(data.images(split))
            log.info("evaluating %s on %s %s images ...", desc.name, f"{len(x):,}", split)
            services.x_std[split] = x
            services.proba[split] = acts.predict_proba_batched(x)
        predicted = services.proba["test"].argmax(axis=1)
        services.confusion = confusion_matrix(data.y_test, predicted, desc.num_classes)
        services.test_accuracy = (
            float((predicted == data.y_test).mean()) if len(predicted) else float("nan")
        )
        services.compare_pair = comparison_pair(trained.meta, desc.name, services.confusion)
        if not data.has_images:
            log.info(
                "%s: served alone, without data: pages work on uploaded and drawn pictures "
                "(--data DIR or an .npz for accuracy, compare and the timeline)",
                desc.name,
            )
            return services
        log.info(
            "%s: test accuracy %.2f%% on %s images; compare opens with %s vs %s",
            desc.name,
            100 * services.test_accuracy,
            f"{len(predicted):,}",
            *(desc.class_names[k] for k in services.compare_pair),
        )
        return services

    @property
    def desc(self) -> ModelDescription:
        """The loaded model's description: layer names, units, classes, input size."""
        return self.trained.desc

    @property
    def has_data(self) -> bool:
        """Whether a data set is loaded (False: the model alone, `sources.no_data`)."""
        return self.data.has_images

    @property
    def data_matches_model(self) -> bool:
        """Whether the loaded digits are the ones the model was trained and evaluated on."""
        return self.trained.meta.get("data", {}).get("fingerprint") == self.data.fingerprint

    def oip_engine(self, layer: str | None = None) -> Any:
        """The loaded model's `cnn_core.oip.OipEngine` for objectives on `layer` (None: class
        scores): `engine_for`, one for every node of a small model (the seed), one per node of
        a large one; traced on first use, thread-safe."""
        from cnn_core.oip import engine_for

        return engine_for(
            self.trained, layer or self.desc.logits_layer, lambda: spectrum_images(self.data)
        )

    def unit_table(self, split: str, layer: str, batch_size: int = 250) -> np.ndarray:
        """One value per unit and image of `split` at `layer`, computed once.

        A small model (`config.SMALL_MODEL_NODES`, the seed) tabulates every node in the one
        pass the first call makes; a large one only the node asked for (MobileNetV2's 150
        nodes at once would hold ~20,000 values per image for nothing).

        Args:
            split: "train" or "test".
            layer: a shown node's path, or `LOGITS` for the pre-softmax class scores.

        Returns:
            `(N, units)` float64 (spatial mean for maps, the value for nodes), or for `LOGITS`
            `(N, classes)` float32.
        """
        from cnn_core.explain.compare import unit_values

        with self._tables_lock:
            tables = self._tables.setdefault(split, {})
            if not len(self.x_std[split]):  # a model served alone
                width = self.desc.num_classes if layer == LOGITS else self.desc.units(layer)
                return np.zeros((0, width), np.float64)
            if layer not in tables:
                x = self.x_std[split]
                small = len(self.desc.layers) <= config.SMALL_MODEL_NODES
                names = None if small else () if layer == LOGITS else (layer,)
                parts: dict[str, list[np.ndarray]] = {}
                for start in range(0, len(x), batch_size):
                    batch = x[start : start + batch_size]
                    if names != ():
                        for name, values in self.acts.activations(batch, names).items():
                            parts.setdefault(name, []).append(unit_values(values))
                    if small or layer == LOGITS:
                        parts.setdefault(LOGITS, []).append(self.acts.logits_of(batch))
                tables.update({name: np.concatenate(v) for name, v in parts.items()})
            return tables[layer]

    def unit_scores(self, split: str, spec: dict[str, Any]) -> np.ndarray:
        """`(N,)` the objective of an OIP job spec (map, node, class, contrast) for each digit."""
        if spec["kind"] == "class":
            return self.unit_table(split, LOGITS)[:, spec["a"]]
        if spec["kind"] == "contrast":
            logits = self.unit_table(split, LOGITS)
            return logits[:, spec["a"]] - logits[:, spec["b"]]
        return self.unit_table(split, spec["layer"])[:, spec["unit"]]

    def checkpoint_folder(self) -> Path | None:
        """`$CNN_LENS_CHECKPOINTS` (`--checkpoints`), else the folder training wrote beside the
        model (`models/cnn_checkpoints`) if it exists, else None (also for a model in memory,
        which has no file to be beside)."""
        given = os.environ.get(config.ENV_CHECKPOINTS)
        if given:
            return Path(given).expanduser()
        if not self.model_path:
            return None
        folder = checkpoint_dir_for(self.model_path)
        return folder if folder.is_dir() else None

    def timeline(self) -> Any:
        """The model's `cnn_core.explain.timeline.Timeline`, loaded on first use, or None.

        Raises:
            TimelineError: the folder cannot be used (the message names the file); also on
                every later call, without loading again.
        """
        with self._timeline_lock:
            if self._timeline is None and self._timeline_error is None:
                folder = self.checkpoint_folder()
                if folder is None:
                    return None
                try:
                    self._timeline = Timeline.load(folder, self.trained)
                    log.info("timeline: %d checkpoints from %s", len(self._timeline.models), folder)
                except TimelineError as err:
                    self._timeline_error = str(err)
                else:  # every epoch's activation model and confusion, off the request path
                    threading.Thread(
                        target=self._timeline.warm,
                        args=(self.x_std["test"], self.data.y_test),
                        name="timeline-warm-up",
                        daemon=True,
                    ).start()
            if self._timeline_error is not None:
                raise TimelineError(self._timeline_error)
            return self._timeline

    def predicted(self, split: str) -> np.ndarray:
        """`(N,)` int64 predicted classes of `split`."""
        return self.proba[split].argmax(axis=1)


_lock = threading.Lock()
_services: Services | None = None


def spectrum_images(data: ImageDataset) -> np.ndarray | None:
    """MACO's amplitude spectrum source: the first `SPECTRUM_IMAGES` training images (pixel
    units, `(n, H, W[, C])`), None for a model served alone. The web and the Celery workers
    both take it from here."""
    return data.images("train")[:SPECTRUM_IMAGES] if data.has_images else None


def trust_images(data: ImageDataset) -> np.ndarray | None:
    """The real images an OIP's trust check compares it with: the test split (pixel units),
    None for a model served alone. The web's job runner and the Celery workers both use it."""
    return data.images("test") if data.has_images else None


def get_services() -> Services:
    """The process-wide `Services`, loaded on first use (thread-safe)."""
    global _services
    with _lock:
        if _services is None:
            _services = Services.load()
            log.info("loaded %s", _services.data.source)
        return _services


def check_layer(layer: object) -> str:
    """`layer` if the loaded model lists it, else `UnknownLayerError` naming the layers it has."""
    return get_services().desc.layer(layer).name  # type: ignore[arg-type]


def set_services(services: Services) -> None:
    """Install an already-loaded `Services` (for `create_app(services=...)`)."""
    global _services
    with _lock:
        _services = services
