"""The loaded data, model and activation model: built once per process, warmed up, shared."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from cnn_core.activations import ActivationModel
from cnn_core.data import MnistData, load_mnist
from cnn_core.model import TrainedModel, load_trained

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a callback reads; immutable after construction, so threads can share it.

    Attributes:
        data: the digits.
        trained: the trained model and its metadata.
        acts: the activation model (all layers, one traced graph).
        x_std: `{split: (N, 28, 28, 1) float32}` standardized digits.
        proba: `{split: (N, 10) float32}` class probabilities of every digit.
    """

    data: MnistData
    trained: TrainedModel
    acts: ActivationModel
    x_std: dict[str, np.ndarray] = field(default_factory=dict)
    proba: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def load(cls, data_source: str | None = None, model_path: str | None = None) -> Services:
        data = load_mnist(data_source)
        trained = load_trained(model_path)
        acts = ActivationModel(trained)
        services = cls(data, trained, acts)
        for split in ("train", "test"):
            x = trained.standardize(data.images(split))
            services.x_std[split] = x
            services.proba[split] = acts.predict_proba_batched(x)
        return services

    @property
    def data_matches_model(self) -> bool:
        """Whether the loaded digits are the ones the model was trained and evaluated on."""
        return self.trained.meta.get("data", {}).get("fingerprint") == self.data.fingerprint

    def predicted(self, split: str) -> np.ndarray:
        """`(N,)` int64 predicted classes of `split`."""
        return self.proba[split].argmax(axis=1)


_lock = threading.Lock()
_services: Services | None = None


def get_services() -> Services:
    """The process-wide `Services`, loaded on first use (thread-safe)."""
    global _services
    with _lock:
        if _services is None:
            _services = Services.load()
            log.info("loaded %s", _services.data.source)
        return _services


def set_services(services: Services) -> None:
    """Install an already-loaded `Services` (for `create_app(services=...)`)."""
    global _services
    with _lock:
        _services = services
