"""One multi-output model that returns every shown layer's activations for a batch, built once."""

from __future__ import annotations

import threading
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnn_core.anatomy import UnknownLayerError
from cnn_core.graph import ExposedForward
from cnn_core.model import TrainedModel

__all__ = ["ActivationModel", "UnknownLayerError"]

#: Key of the class scores (pre-softmax) in `ActivationModel.activations(..., logits=True)`.
LOGITS = "logits"


class ActivationModel:
    """Every shown layer's output for a batch of model-input images, from one traced graph.

    The multi-output Keras model (each shown layer's output: the model's own layers called in
    order on a new input) is built once; its forward pass is a `tf.function` with a fixed
    input signature, traced and warmed up at construction, so a call never retraces and can run
    from many threads at once (a concrete function is thread-safe to call). The two other
    graphs, for `predict_proba_batched` and `logits_of`, are traced the same way on their first
    call (under a lock): an epoch of a training timeline needs neither.
    """

    def __init__(self, trained: TrainedModel) -> None:
        self.trained = trained
        self.description = desc = trained.desc
        model = trained.model
        self.layer_names: tuple[str, ...] = desc.names
        # Call the chain on a new input rather than reading `layer.output`, which a loaded
        # Sequential model leaves ambiguous (its layers keep several call nodes).
        image = keras.Input(desc.input_shape, name="image")
        tensors, h = {}, image
        for name in desc.chain:
            h = tensors[name] = model.get_layer(name)(h)
        outputs = [tensors[desc.layer(n).output_layer] for n in self.layer_names]
        self._multi = keras.Model(image, outputs, name="all_layers")
        signature = (tf.TensorSpec(shape=(None, *desc.input_shape), dtype=tf.float32, name="x"),)
        forward = tf.function(lambda x: self._multi(x, training=False), input_signature=signature)
        self._forward = forward.get_concrete_function()
        self._signature = signature
        self._heads: dict[str, Any] = {}
        self._heads_lock = threading.Lock()
        self.activations(np.zeros((1, *desc.input_shape), np.float32))  # first call picks kernels

    def _head(self, name: str) -> Any:
        """The concrete function "proba" (the model's output) or "logits" (class scores before
        the softmax), traced and warmed up on first use."""
        traced = self._heads.get(name)
        if traced is not None:  # every call after the first: no lock
            return traced
        with self._heads_lock:
            if name not in self._heads:
                model = self.trained.model
                if name == "proba":
                    call = lambda x: model(x, training=False)  # noqa: E731
                else:
                    graph = ExposedForward(model, self.description)
                    call = lambda x: graph(x)[2]  # noqa: E731
                fn = tf.function(call, input_signature=self._signature).get_concrete_function()
                fn(tf.zeros((1, *self.description.input_shape), tf.float32))
                self._heads[name] = fn
            return self._heads[name]

    def _check(self, x_std: np.ndarray) -> np.ndarray:
        x = np.asarray(x_std, dtype=np.float32)
        shape = self.description.input_shape
        if x.ndim != 4 or x.shape[1:] != shape:
            raise ValueError(
                f"expected (N, {', '.join(map(str, shape))}) model input, got {x.shape}"
            )
        return x

    def activations(self, x_std: np.ndarray) -> dict[str, np.ndarray]:
        """All shown layers' outputs.

        Args:
            x_std: `(N, H, W, C)` float32 model input (see `TrainedModel.standardize`).

        Returns:
            `{layer name: array}`, batch first, float32: maps `(N, h, w, c)`, nodes
            `(N, units)`; the last (logits) layer holds what the model outputs: softmax
            probabilities `(N, classes)`, or raw scores for a model without a softmax.
        """
        outputs = self._forward(tf.constant(self._check(x_std)))
        return {name: out.numpy() for name, out in zip(self.layer_names, outputs, strict=True)}

    def layer(self, x_std: np.ndarray, name: str) -> np.ndarray:
        """One layer's output, `(N, ...)` float32 (all layers are computed; it costs ~1 ms)."""
        self.description.layer(name)
        return self.activations(x_std)[name]

    def predict_proba(self, x_std: np.ndarray) -> np.ndarray:
        """`(N, classes)` float32 class probabilities for `(N, H, W, C)` model input."""
        return self.predict_proba_batched(x_std)

    def predict_proba_batched(self, x_std: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """`(N, classes)` float32 probabilities of many images, in batches (bounded memory)."""
        x = self._check(x_std)
        proba = self._head("proba")
        chunks = [
            proba(tf.constant(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)
        ]
        if not chunks:
            return np.zeros((0, self.description.num_classes), np.float32)
        return self._as_probabilities(np.concatenate(chunks))

    def probabilities(self, activations: dict[str, np.ndarray]) -> np.ndarray:
        """`(N, classes)` float32 class probabilities from `activations(x)`'s result, without
        running the model again (its last layer is what the model outputs)."""
        return self._as_probabilities(activations[self.description.logits_layer])

    def _as_probabilities(self, output: np.ndarray) -> np.ndarray:
        if self.description.output_is_logits:
            output = _softmax(output)
        return np.asarray(output, np.float32)

    def logits_of(self, x_std: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """`(N, classes)` float32 class scores before the softmax, for model input."""
        x = self._check(x_std)
        logits = self._head("logits")
        chunks = [
            logits(tf.constant(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.description.num_classes))

    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """`{layer: shape without the batch axis}`."""
        return {name: self.description.layer(name).shape for name in self.layer_names}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
