"""One multi-output model that returns every layer's activations for a batch, built once."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from cnn_core import config
from cnn_core.model import TrainedModel

INPUT_SIGNATURE = (tf.TensorSpec(shape=(None, 28, 28, 1), dtype=tf.float32, name="x_std"),)


class UnknownLayerError(KeyError):
    """A layer name that the seed CNN does not have."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def check_layer(name: str) -> str:
    """Return `name` if it is one of `config.LAYER_NAMES`, else raise `UnknownLayerError`."""
    if name not in config.LAYER_NAMES:
        raise UnknownLayerError(
            f"unknown layer {name!r}; choose one of {', '.join(config.LAYER_NAMES)}"
        )
    return name


class ActivationModel:
    """Every layer's output for a batch of standardized digits, from one traced graph.

    The multi-output Keras model is built once; its forward pass is a `tf.function` with a
    fixed input signature, traced and warmed up at construction, so a call never retraces and
    can run from many threads at once (a concrete function is thread-safe to call).
    """

    def __init__(self, trained: TrainedModel) -> None:
        self.trained = trained
        model = trained.model
        self.layer_names: tuple[str, ...] = tuple(layer.name for layer in model.layers[1:])
        outputs = [model.get_layer(name).output for name in self.layer_names]
        self._multi = keras.Model(model.input, outputs, name="all_layers")
        forward = tf.function(
            lambda x: self._multi(x, training=False), input_signature=INPUT_SIGNATURE
        )
        self._forward = forward.get_concrete_function()
        proba = tf.function(lambda x: model(x, training=False), input_signature=INPUT_SIGNATURE)
        self._proba = proba.get_concrete_function()
        warm = np.zeros((1, 28, 28, 1), np.float32)  # first calls allocate and pick kernels
        self.activations(warm)
        self.predict_proba_batched(warm)

    def activations(self, x_std: np.ndarray) -> dict[str, np.ndarray]:
        """All layers' outputs.

        Args:
            x_std: `(N, 28, 28, 1)` float32, standardized (see `TrainedModel.standardize`).

        Returns:
            `{layer name: array}`, batch first, float32: maps `(N, H, W, C)`, nodes `(N, units)`;
            `Dense_2` holds the softmax probabilities `(N, 10)`.
        """
        x = np.asarray(x_std, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
            raise ValueError(f"expected (N, 28, 28, 1) standardized images, got {x.shape}")
        outputs = self._forward(tf.constant(x))
        return {name: out.numpy() for name, out in zip(self.layer_names, outputs, strict=True)}

    def layer(self, x_std: np.ndarray, name: str) -> np.ndarray:
        """One layer's output, `(N, ...)` float32 (all layers are computed; it costs ~1 ms)."""
        return self.activations(x_std)[check_layer(name)]

    def predict_proba(self, x_std: np.ndarray) -> np.ndarray:
        """`(N, 10)` float32 class probabilities for `(N, 28, 28, 1)` standardized digits."""
        return self.activations(x_std)[config.LAYER_NAMES[-1]]

    def predict_proba_batched(self, x_std: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """`(N, 10)` float32 probabilities of many digits, in batches (bounded memory)."""
        x = np.asarray(x_std, dtype=np.float32)
        chunks = [
            self._proba(tf.constant(x[i : i + batch_size])).numpy()
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, config.NUM_CLASSES), np.float32)

    def logits(self, dense_1: np.ndarray) -> np.ndarray:
        """Pre-softmax class scores from `Dense_1` outputs.

        Args:
            dense_1: `(N, 100)` float32, the `Dense_1` activations.

        Returns:
            `(N, 10)` float32, `dense_1 @ kernel + bias` of `Dense_2` (its softmax's input).
        """
        kernel, bias = self.trained.model.get_layer("Dense_2").get_weights()
        return (np.asarray(dense_1, dtype=np.float32) @ kernel + bias).astype(np.float32)

    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """`{layer: shape without the batch axis}`."""
        return {
            name: tuple(self._multi.get_layer(name).output.shape[1:]) for name in self.layer_names
        }
