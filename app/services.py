"""The loaded data, model and activation model: built once per process, warmed up, shared."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

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
    _engine: Any = field(default=None, repr=False)
    _engine_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    _tables_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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

    def oip_engine(self) -> Any:
        """The process's `cnn_core.oip.OipEngine`, built and traced on first use (thread-safe)."""
        with self._engine_lock:
            if self._engine is None:
                from cnn_core.oip import OipEngine

                self._engine = OipEngine(self.trained)
            return self._engine

    def unit_tables(self, split: str, batch_size: int = 250) -> dict[str, np.ndarray]:
        """One value per unit and digit of `split`, for every layer, computed once (one pass).

        Returns:
            `{layer: (N, units) float64}` (spatial mean for maps, the value for nodes) and
            `"logits": (N, 10) float32` pre-softmax class scores.
        """
        from cnn_core.compare import unit_values

        with self._tables_lock:
            if split not in self._tables:
                x = self.x_std[split]
                parts: dict[str, list[np.ndarray]] = {}
                for start in range(0, len(x), batch_size):
                    acts = self.acts.activations(x[start : start + batch_size])
                    acts["logits"] = self.acts.logits(acts["Dense_1"])
                    for name, values in acts.items():
                        parts.setdefault(name, []).append(
                            values if name == "logits" else unit_values(values)
                        )
                self._tables[split] = {name: np.concatenate(v) for name, v in parts.items()}
            return self._tables[split]

    def unit_scores(self, split: str, spec: dict[str, Any]) -> np.ndarray:
        """`(N,)` the objective of an OIP job spec (map, node, class, contrast) for each digit."""
        tables = self.unit_tables(split)
        if spec["kind"] == "class":
            return tables["logits"][:, spec["a"]]
        if spec["kind"] == "contrast":
            return tables["logits"][:, spec["a"]] - tables["logits"][:, spec["b"]]
        return tables[spec["layer"]][:, spec["unit"]]

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
