"""The model's own layers, run through its graph (nested models seen through), exposing what
Keras keeps inside: each shown node's value before its activation, and the class logits before
the softmax.

Used inside traced functions (OIP ascent, attribution). Nothing here re-implements a layer: each
step calls a Keras layer of the model, or a copy of one made from its config and weights with the
activation split off (`Conv2D(..., activation="relu")` becomes `Conv2D(..., activation="linear")`
followed by the original activation function), so any layer the model has is computed exactly
as Keras computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from cnn_core.model.anatomy import (
    ACTIVATION_TYPES,
    COMMUTING_TYPES,
    CONV_TYPES,
    POOL_TYPES,
    ModelDescription,
    fused_activation,
)
from cnn_core.model.graph import INPUT, LayerGraph, Op, layer_graph

PreValue = Callable[[], tf.Tensor]


@dataclass
class _Step:
    op: Op
    layer: Any  # what to call: the op's layer, or a linear copy of it for a fused activation
    role: str  # "fused", "activation", "commute" or "plain"
    activation: Callable[[tf.Tensor], tf.Tensor] | None  # for "fused"
    dtype: tf.DType  # the layer's arithmetic (bfloat16 for convolutions when asked)


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
    """Run the model's graph and keep, per shown node, its output and pre-value.

    Args:
        model: the Keras model (any graph `cnn_core.model.graph` walks).
        description: its `ModelDescription`.
        conv_dtype: arithmetic of the convolutions ("float32" or "bfloat16"); every other layer,
            and every value returned, is float32.
    """

    def __init__(
        self, model: keras.Model, description: ModelDescription, conv_dtype: str = "float32"
    ) -> None:
        self.description = description
        self.graph: LayerGraph = layer_graph(model)
        self._shown = {info.output_layer: info for info in description.layers}
        low = tf.as_dtype(conv_dtype)
        shapes = self.graph.shapes
        self._steps: list[_Step] = []
        for op in self.graph:
            layer = op.layer
            input_shape = (None, *shapes[op.reads[0]]) if op.reads else None
            # convolutions and the pooling between them run in the low precision; the
            # tensors between them stay in it (no casts back and forth)
            fast = isinstance(layer, (*CONV_TYPES, *POOL_TYPES)) and low != tf.float32
            dtype = low if fast else tf.float32
            act = fused_activation(layer)
            if isinstance(layer, ACTIVATION_TYPES):
                step = _Step(op, layer, "activation", None, tf.float32)
            elif act is not None and len(op.reads) == 1 and hasattr(layer, "get_config"):
                copy = _copy_layer(layer, input_shape, linear=True, dtype=dtype.name)
                step = _Step(op, copy, "fused", layer.activation, dtype)
            else:
                runs = (
                    _copy_layer(layer, input_shape, linear=False, dtype=dtype.name)
                    if fast
                    else layer
                )
                role = "commute" if isinstance(layer, COMMUTING_TYPES) else "plain"
                step = _Step(op, runs, role, None, dtype)
            self._steps.append(step)

    def __call__(
        self, x: tf.Tensor
    ) -> tuple[dict[str, tf.Tensor], dict[str, PreValue | None], tf.Tensor]:
        """Run the graph on model-input images.

        Args:
            x: `(N, H, W, C)` float32 model input.

        Returns:
            `outputs`: `{shown node: (N, ...) float32}` as Keras computes it (after the
            group's activation); `pre`: `{shown node: callable giving (N, ...) float32 before
            the activation, or None}` (callables, so a caller computes them only where needed,
            e.g. inside a `tf.cond` branch); `logits`: `(N, classes)` float32 class scores
            before the softmax.
        """
        values: dict[int, tf.Tensor] = {INPUT: x}
        pre: dict[int, PreValue] = {}  # value id -> its value before the last activation
        outputs: dict[str, tf.Tensor] = {}
        pres: dict[str, PreValue | None] = {}
        logits = None
        for step in self._steps:
            op = step.op
            inputs = [values[v] for v in op.reads]
            out = op.writes[0] if len(op.writes) == 1 else None
            if step.role == "fused":
                z = self._call(step, inputs)[0]
                values[out] = step.activation(z)
                pre[out] = lambda z=z: z
            elif step.role == "activation":
                values[out] = op.call(inputs)[0]
                pre[out] = lambda z=inputs[0]: z
            else:
                values.update(zip(op.writes, self._call(step, inputs), strict=True))
                before = pre.get(op.reads[0]) if op.reads else None
                if step.role == "commute" and before is not None and out is not None:
                    pre[out] = lambda f=before, s=step: self._call(s, [f()])[0]
            info = self._shown.get(op.path)
            if info is not None:
                h = values[out]
                outputs[info.name] = h  # float32, or the low precision inside conv blocks
                pres[info.name] = pre.get(out) if info.has_pre else None
                if info.is_logits:
                    logits = h if info.activation == "linear" else pre[out]()
        assert logits is not None  # the description guarantees a logits node at the end
        return outputs, pres, tf.cast(logits, tf.float32)

    @staticmethod
    def _call(step: _Step, inputs: list[tf.Tensor]) -> list[tf.Tensor]:
        if step.dtype != tf.float32:
            inputs = [tf.cast(h, step.dtype) for h in inputs]
        elif any(h.dtype != tf.float32 for h in inputs):  # after a low-precision block
            inputs = [tf.cast(h, tf.float32) for h in inputs]
        return step.op.call(inputs, step.layer)
