"""The model as one flat graph of operations: nested models seen through, each layer named by
its path (`outer/inner`), in an order in which every operation comes after what it reads.

Keras runs a functional model node by node (`keras/src/ops/function.py`, `_run_through_graph`)
and a Sequential layer after layer; this module does the same walk once, descending into every
nested model (Functional or Sequential, to any depth), and records each call as an `Op`. The
description (`cnn_core.model.anatomy`), the activation model, the OIP engine and attribution all run
this one list, so a layer deep inside a nested base is computed exactly as Keras computes it,
from the outer model's input (no "Graph disconnected").
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

L = keras.layers

#: Value id of the model's input image.
INPUT = 0


class GraphError(ValueError):
    """A model whose graph cnn-lens cannot walk; one line naming the layer and the reason."""


@dataclass(frozen=True)
class _Slot:
    """Where the i-th value read by an op goes in its call arguments."""

    index: int


@dataclass(frozen=True)
class Op:
    """One call of a Keras layer (or Keras operation) in the flat graph.

    Attributes:
        path: the layer's path, `outer/inner` for a layer inside a nested model.
        layer: the Keras layer or operation called.
        reads: value ids it reads, in argument order.
        writes: value ids it writes (one per output tensor).
        template: `(args, kwargs)` of the call with `_Slot(i)` where value `reads[i]` goes;
            None for a call on one positional tensor.
    """

    path: str
    layer: Any
    reads: tuple[int, ...]
    writes: tuple[int, ...]
    template: tuple[tuple, dict] | None = None

    @property
    def is_layer(self) -> bool:
        return isinstance(self.layer, L.Layer)

    @property
    def type_name(self) -> str:
        return type(self.layer).__name__

    def arguments(self, values: Sequence[Any]) -> tuple[tuple, dict]:
        """The call's `(args, kwargs)` with `values[i]` in place of the i-th read."""
        if self.template is None:
            return (values[0],), {}
        fill = lambda x: values[x.index] if isinstance(x, _Slot) else x  # noqa: E731
        args, kwargs = self.template
        return keras.tree.map_structure(fill, args), keras.tree.map_structure(fill, kwargs)

    def call(self, values: Sequence[Any], layer: Any | None = None) -> list[Any]:
        """Run the op (or `layer`, a stand-in for it) on `values` at inference
        (`training=False` where the layer takes it); returns one tensor per write."""
        args, kwargs = self.arguments(values)
        fn = self.layer if layer is None else layer
        if isinstance(fn, L.Layer) and getattr(fn, "_call_has_training_arg", False):
            kwargs = {**kwargs, "training": False}
        out = fn(*args, **kwargs)
        return list(keras.tree.flatten(out))


@dataclass(frozen=True)
class LayerGraph:
    """The flat graph of a model.

    Attributes:
        ops: every call, in topological order.
        output: the value id of the model's (single) output.
        input_shape: `(H, W, C)` of the image input.
        consumers: `{value id: number of ops reading it}` (the output counts once more).
        shapes: `{value id: shape without the batch axis}` of every value (a symbolic run).
    """

    ops: tuple[Op, ...]
    output: int
    input_shape: tuple[int, ...]
    consumers: dict[int, int]
    shapes: dict[int, tuple[int | None, ...]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def run(
        self, x: Any, call: Callable[[Op, list[Any]], list[Any]] | None = None
    ) -> dict[int, Any]:
        """Every value of the graph for input `x` (a tensor or a `keras.Input`).

        Args:
            x: `(N, H, W, C)` model input, eager, traced or symbolic.
            call: `(op, inputs) -> outputs`, default `op.call(inputs)`.

        Returns:
            `{value id: tensor}`.
        """
        values: dict[int, Any] = {INPUT: x}
        for op in self.ops:
            inputs = [values[v] for v in op.reads]
            outputs = call(op, inputs) if call is not None else op.call(inputs)
            if len(outputs) != len(op.writes):
                raise GraphError(
                    f"layer {op.path!r} gave {len(outputs)} outputs, expected {len(op.writes)}"
                )
            values.update(zip(op.writes, outputs, strict=True))
        return values


def _is_model(layer: Any) -> bool:
    return isinstance(layer, keras.Model)


class _Walker:
    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.next_id = INPUT + 1
        self.seen: dict[int, str] = {}  # id(layer) -> path of its first use

    def new_value(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def use(self, layer: Any, path: str) -> None:
        first = self.seen.get(id(layer))
        if first is not None:
            what = "nested model" if _is_model(layer) else "layer"
            raise GraphError(
                f"{what} {first!r} ({type(layer).__name__}) is called more than once (shared "
                "weights); cnn-lens shows each layer at one place in the graph"
            )
        self.seen[id(layer)] = path

    def model(self, model: keras.Model, prefix: str, inputs: list[int]) -> list[int]:
        """Walk `model` (called on value ids `inputs`); returns its output value ids."""
        if isinstance(model, keras.Sequential):
            return self.sequential(model, prefix, inputs)
        if not hasattr(model, "_nodes_by_depth"):
            raise GraphError(
                f"model {prefix.rstrip('/') or model.name!r} ({type(model).__name__}) is a "
                "subclassed model; cnn-lens needs Functional or Sequential models (their graph "
                "is known)"
            )
        model_inputs = keras.tree.flatten(model.inputs)
        if len(model_inputs) != len(inputs):
            raise GraphError(
                f"nested model {prefix.rstrip('/')!r} has {len(model_inputs)} inputs; cnn-lens "
                "shows models with one image input"
            )
        ids: dict[int, int] = {id(t): v for t, v in zip(model_inputs, inputs, strict=True)}
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                if not node.operation or node.is_input:
                    continue
                tensors = list(node.input_tensors)
                if any(id(t) not in ids for t in tensors):
                    continue  # not reachable from the inputs (Keras skips it as well)
                reads = [ids[id(t)] for t in tensors]
                op = node.operation
                path = f"{prefix}{op.name}"
                if _is_model(op):
                    self.use(op, path)
                    outs = self.model(op, f"{path}/", reads)
                else:
                    self.use(op, path)
                    outs = self.call(op, path, reads, node)
                for t, v in zip(node.outputs, outs, strict=True):
                    ids[id(t)] = v
        return [ids[id(t)] for t in keras.tree.flatten(model.outputs)]

    def sequential(self, model: keras.Sequential, prefix: str, inputs: list[int]) -> list[int]:
        values = inputs
        for layer in model.layers:
            if len(values) != 1:
                raise GraphError(f"layer {prefix}{layer.name!r} receives {len(values)} tensors")
            path = f"{prefix}{layer.name}"
            self.use(layer, path)
            if _is_model(layer):
                values = self.model(layer, f"{path}/", values)
            else:
                values = self.call(layer, path, values, None)
        return values

    def call(self, op: Any, path: str, reads: list[int], node: Any) -> list[int]:
        template = None
        if node is not None and node.arguments._single_positional_tensor is None:
            slots = iter(range(len(reads)))
            swap = lambda x: _Slot(next(slots)) if isinstance(x, keras.KerasTensor) else x  # noqa: E731
            args = keras.tree.map_structure(swap, node.arguments.args)
            kwargs = keras.tree.map_structure(swap, node.arguments.kwargs)
            template = (tuple(args), dict(kwargs))
        n_out = len(node.outputs) if node is not None else 1
        writes = [self.new_value() for _ in range(n_out)]
        self.ops.append(Op(path, op, tuple(reads), tuple(writes), template))
        return writes


_GRAPHS: weakref.WeakKeyDictionary[keras.Model, LayerGraph] = weakref.WeakKeyDictionary()
_GRAPHS_LOCK = threading.Lock()


def layer_graph(model: keras.Model) -> LayerGraph:
    """The flat graph of `model` (nested models inlined, layers named by path), walked once per
    model: the description, the activation model, the OIP engine and attribution share it.

    Args:
        model: a Functional or Sequential Keras 3 model with one 4-D image input
            `(N, H, W, C)`, C = 1 or 3, and one output.

    Raises:
        GraphError: several inputs or outputs, an input that is not an image, a subclassed
            model, a layer or nested model called more than once, a layer that cannot tell its
            output shape.
    """
    with _GRAPHS_LOCK:
        graph = _GRAPHS.get(model)
        if graph is None:
            graph = _GRAPHS[model] = _walk(model)
        return graph


def _walk(model: keras.Model) -> LayerGraph:
    inputs = model.inputs
    if not inputs or len(inputs) != 1:
        raise GraphError(
            f"model {model.name!r} has {len(inputs or [])} inputs; cnn-lens shows models with one "
            "image input"
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or any(d is None for d in shape[1:]) or shape[3] not in (1, 3):
        raise GraphError(
            f"model input {shape} is not a 2-D image (batch, height, width, 1 or 3 channels)"
        )
    if len(keras.tree.flatten(model.outputs)) != 1:
        raise GraphError(f"model {model.name!r} must have one output, the class scores")
    walker = _Walker()
    (output,) = walker.model(model, "", [INPUT])
    if not walker.ops:
        raise GraphError(f"model {model.name!r} has no layers")
    consumers: dict[int, int] = {INPUT: 0}
    for op in walker.ops:
        for v in op.writes:
            consumers.setdefault(v, 0)
        for v in op.reads:
            consumers[v] += 1
    consumers[output] += 1
    graph = LayerGraph(tuple(walker.ops), output, tuple(int(d) for d in shape[1:]), consumers)
    graph.shapes.update(_value_shapes(graph))
    return graph


def _value_shapes(graph: LayerGraph) -> dict[int, tuple[int | None, ...]]:
    """`{value id: shape without the batch axis}`, from a run on a symbolic input."""

    def call(op: Op, inputs: list[Any]) -> list[Any]:
        try:
            return op.call(inputs)
        except Exception as exc:  # a custom layer may not implement its output spec
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise GraphError(
                f"layer {op.path!r} ({op.type_name}) cannot tell its output shape: {reason}"
            ) from exc

    values = graph.run(keras.Input(graph.input_shape), call=call)
    return {v: tuple(t.shape[1:]) for v, t in values.items() if hasattr(t, "shape")}
