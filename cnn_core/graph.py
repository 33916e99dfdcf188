"""The model's own layers, run in order, exposing what Keras keeps inside: each shown layer's
value before its activation, and the class logits before the softmax.

Used inside traced functions (OIP ascent, attribution). Nothing here re-implements a layer: each
step calls a Keras layer of the model, or a copy of one made from its config and weights with the
activation split off (`Conv2D(..., activation="relu")` becomes `Conv2D(..., activation="linear")`
followed by the original activation function), so any layer the model has is computed exactly
as Keras computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from cnn_core.anatomy import (
    ACTIVATION_TYPES,
    COMMUTING_TYPES,
    CONV_TYPES,
    POOL_TYPES,
    ModelDescription,
    activation_name,
    layer_chain,
    output_shapes,
)

PreValue = Callable[[], tf.Tensor]


@dataclass
class _Step:
    layer: keras.layers.Layer  # the layer to call (a linear copy for a fused activation)
    role: str  # "fused", "activation", "commute" or "plain"
    activation: Callable[[tf.Tensor], tf.Tensor] | None  # for "fused"
    dtype: tf.DType  # the layer's arithmetic (bfloat16 for convolutions when asked)
    closes: str | None  # the shown layer whose group this step ends


def _copy_layer(
    layer: keras.layers.Layer, input_shape: tuple, *, linear: bool, dtype: str
) -> keras.layers.Layer:
    """A copy of `layer` (same config and weights), with its activation removed if `linear`."""
    config = layer.get_config()
    if linear:
        config["activation"] = "linear"
    config["dtype"] = dtype
    config["name"] = f"{layer.name}__copy"
    copy = type(layer).from_config(config)
    copy.build(input_shape)
    copy.set_weights(layer.get_weights())
    return copy


class ExposedForward:
    """Call the model's chain of layers and keep, per shown layer, its output and pre-value.

    Args:
        model: the Keras model (a chain, see `anatomy.layer_chain`).
        description: its `ModelDescription`.
        conv_dtype: arithmetic of the convolutions ("float32" or "bfloat16"); every other layer,
            and every value returned, is float32.
    """

    def __init__(
        self, model: keras.Model, description: ModelDescription, conv_dtype: str = "float32"
    ) -> None:
        self.description = description
        closes = {info.output_layer: info.name for info in description.layers}
        low = tf.as_dtype(conv_dtype)
        self._steps: list[_Step] = []
        chain = layer_chain(model)
        shapes = output_shapes(model, chain)
        for i, layer in enumerate(chain):
            input_shape = tuple(model.inputs[0].shape) if i == 0 else shapes[chain[i - 1].name]
            # convolutions and the pooling between them run in the low precision; the
            # tensors between them stay in it (no casts back and forth)
            fast = isinstance(layer, (*CONV_TYPES, *POOL_TYPES)) and low != tf.float32
            dtype = low if fast else tf.float32
            act = None if isinstance(layer, ACTIVATION_TYPES) else activation_name(layer)
            if isinstance(layer, ACTIVATION_TYPES):
                step = _Step(layer, "activation", None, tf.float32, None)
            elif act not in (None, "linear"):
                copy = _copy_layer(layer, input_shape, linear=True, dtype=dtype.name)
                step = _Step(copy, "fused", layer.activation, dtype, None)
            else:
                runs = (
                    _copy_layer(layer, input_shape, linear=False, dtype=dtype.name)
                    if fast
                    else layer
                )
                role = "commute" if isinstance(layer, COMMUTING_TYPES) else "plain"
                step = _Step(runs, role, None, dtype, None)
            step.closes = closes.get(layer.name)
            self._steps.append(step)

    def __call__(
        self, x: tf.Tensor
    ) -> tuple[dict[str, tf.Tensor], dict[str, PreValue | None], tf.Tensor]:
        """Run the chain on model-input images.

        Args:
            x: `(N, H, W, C)` float32 model input.

        Returns:
            `outputs`: `{shown layer: (N, ...) float32}` as Keras computes it (after the
            group's activation); `pre`: `{shown layer: callable giving (N, ...) float32 before
            the activation, or None}` (callables, so a caller computes them only where needed,
            e.g. inside a `tf.cond` branch); `logits`: `(N, classes)` float32 class scores
            before the softmax.
        """
        h = x
        pre_value: PreValue | None = None
        outputs: dict[str, tf.Tensor] = {}
        pres: dict[str, PreValue | None] = {}
        logits = None
        for step in self._steps:
            if step.role == "fused":
                z = self._call(step, h)
                h = step.activation(z)
                pre_value = lambda z=z: z  # noqa: E731
            elif step.role == "activation":
                z = h
                h = step.layer(h, training=False)
                pre_value = lambda z=z: z  # noqa: E731
            elif step.role == "commute":
                h = self._call(step, h)
                if pre_value is not None:
                    pre_value = lambda f=pre_value, s=step: self._call(s, f())  # noqa: E731
            else:
                h = self._call(step, h)
                pre_value = None
            if step.closes is not None:
                info = self.description.layer(step.closes)
                outputs[info.name] = h  # float32, or the low precision inside conv blocks
                pres[info.name] = pre_value if info.has_pre else None
                if info.is_logits:
                    logits = h if info.activation == "linear" else pre_value()  # type: ignore[misc]
        assert logits is not None  # the description guarantees a logits layer at the end
        return outputs, pres, tf.cast(logits, tf.float32)

    @staticmethod
    def _call(step: _Step, h: tf.Tensor) -> tf.Tensor:
        # a float32 layer casts a low-precision input itself (Keras autocast)
        if step.dtype == tf.float32:
            return step.layer(h, training=False)
        return step.layer(tf.cast(h, step.dtype), training=False)
