"""Shown nodes' activations for a batch: the nodes asked for, from graphs traced once each."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnn_core import config
from cnn_core.model.anatomy import UnknownLayerError
from cnn_core.model.forward import ExposedForward
from cnn_core.model.graph import layer_graph
from cnn_core.model.trained import TrainedModel

__all__ = ["ActivationModel", "UnknownLayerError"]

#: Key of the class scores (pre-softmax) in `ActivationModel.activations(..., logits=True)`.
LOGITS = "logits"


#: Most traced functions kept for requests of a few nodes (least recently used dropped).
MAX_TRACES = 32


class ActivationModel:
    """Shown nodes' outputs for a batch of model-input images, from traced graphs.

    The model's graph (`cnn_core.model.graph`: nested models seen through) is called once on a
    new symbolic input; a request for some nodes builds the sub-model that computes only what
    they need and traces its forward pass as a `tf.function` with a fixed input signature
    (cached: at most `MAX_TRACES` node sets), so a page asking for one node of a 200-node graph
    computes and copies that node only. A traced function never retraces and can run from many
    threads at once (a concrete function is thread-safe to call). For a small model (the seed)
    the all-nodes function is traced and warmed up at construction. The two other graphs, for
    `predict_proba_batched` and `logits_of`, are traced on their first call (under a lock): an
    epoch of a training timeline needs neither.
    """

    def __init__(self, trained: TrainedModel) -> None:
        self.trained = trained
        self.description = desc = trained.desc
        self.layer_names: tuple[str, ...] = desc.names
        # Call the graph on a new input rather than reading `layer.output`, which a loaded
        # Sequential model leaves ambiguous (its layers keep several call nodes) and which a
        # nested model's layer only has inside the nested model ("Graph disconnected").
        graph = layer_graph(trained.model)
        self._image = keras.Input(desc.input_shape, name="image")
        values = graph.run(self._image)
        written = {op.path: op.writes[0] for op in graph}
        self._tensors = {
            name: values[written[desc.layer(name).output_layer]] for name in self.layer_names
        }
        self._signature = (
            tf.TensorSpec(shape=(None, *desc.input_shape), dtype=tf.float32, name="x"),
        )
        self._traced: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._trace_lock = threading.Lock()
        self._heads: dict[str, Any] = {}
        self._heads_lock = threading.Lock()
        if len(self.layer_names) <= config.SMALL_MODEL_NODES:
            self.activations(np.zeros((1, *desc.input_shape), np.float32))  # picks kernels

    def _function(self, names: tuple[str, ...]) -> Any:
        """The concrete function giving `names`' outputs, traced on first use (thread-safe)."""
        traced = self._traced.get(names)
        if traced is not None:
            return traced
        with self._trace_lock:
            if names not in self._traced:
                sub = keras.Model(self._image, [self._tensors[n] for n in names])
                fn = tf.function(
                    lambda x: tf.nest.flatten(sub(x, training=False)),
                    input_signature=self._signature,
                    autograph=False,
                )
                self._traced[names] = fn.get_concrete_function()
                while len(self._traced) > MAX_TRACES:
                    self._traced.popitem(last=False)
            return self._traced[names]

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
                fn = tf.function(call, input_signature=self._signature, autograph=False)
                fn = fn.get_concrete_function()
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

    def activations(
        self, x_std: np.ndarray, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Shown nodes' outputs: all of them, or only `names` (only what they need is run).

        Args:
            x_std: `(N, H, W, C)` float32 model input (see `TrainedModel.standardize`).
            names: shown node paths; default every shown node.

        Returns:
            `{node: array}`, batch first, float32: maps `(N, h, w, c)`, nodes `(N, units)`; the
            last (logits) node holds what the model outputs: softmax probabilities
            `(N, classes)`, or raw scores for a model without a softmax.

        Raises:
            UnknownLayerError: a name the model does not list.
        """
        if names is None:
            wanted = self.layer_names
        else:
            wanted = tuple(dict.fromkeys(self.description.layer(n).name for n in names))
        # a small model runs its one warm all-nodes function whatever is asked (no new trace)
        run = self.layer_names if len(self.layer_names) <= config.SMALL_MODEL_NODES else wanted
        outputs = self._function(run)(tf.constant(self._check(x_std)))
        got = dict(zip(run, outputs, strict=True))
        return {name: got[name].numpy() for name in wanted}

    def layer(self, x_std: np.ndarray, name: str) -> np.ndarray:
        """One node's output, `(N, ...)` float32 (only what that node needs is computed)."""
        return self.activations(x_std, (name,))[name]

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
