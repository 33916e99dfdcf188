"""What a loaded Keras image classifier is: its input, the layers worth showing, their units,
activations and pre-activation values, which layer gives the class logits, its classes and input
normalization. Derived from the Keras model itself; everything else asks this description.

A layer "worth showing" is a convolution (Conv2D, DepthwiseConv2D, SeparableConv2D), a pooling
layer, Flatten, a global pooling layer or Dense. The elementwise layers that follow it
(BatchNormalization, activation layers, Dropout and friends) belong to it: the shown output is
the last of them, so `Conv2D → BatchNormalization → ReLU` is shown once, after the ReLU, under
the convolution's name. Anything else in the chain (Reshape, ZeroPadding2D, Resizing, ...) is run
but not listed. Rescaling / Normalization before the first shown layer are the model's own
input preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

L = keras.layers

#: Layers listed as their own entry, with the kind of output they give.
CONV_TYPES: tuple[type, ...] = (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D)
POOL_TYPES: tuple[type, ...] = (L.MaxPooling2D, L.AveragePooling2D)
GLOBAL_POOL_TYPES: tuple[type, ...] = (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)
SHOWN_TYPES: tuple[type, ...] = (*CONV_TYPES, *POOL_TYPES, *GLOBAL_POOL_TYPES, L.Flatten, L.Dense)
#: Elementwise layers that belong to the shown layer before them.
ACTIVATION_TYPES: tuple[type, ...] = (L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.PReLU, L.Softmax)
IDENTITY_AT_INFERENCE: tuple[type, ...] = (
    L.Dropout,
    L.SpatialDropout2D,
    L.GaussianNoise,
    L.GaussianDropout,
    L.AlphaDropout,
    L.ActivityRegularization,
)
ATTACHED_TYPES: tuple[type, ...] = (
    *ACTIVATION_TYPES,
    *IDENTITY_AT_INFERENCE,
    L.BatchNormalization,
    L.LayerNormalization,
)
PREPROCESSING_TYPES: tuple[type, ...] = (L.Rescaling, L.Normalization)
#: Layers through which a pre-activation value can be carried: `f(act(z)) == act(f(z))` for a
#: monotone elementwise `act` (max pooling, reshaping, identity at inference).
COMMUTING_TYPES: tuple[type, ...] = (
    L.MaxPooling2D,
    L.GlobalMaxPooling2D,
    L.Flatten,
    *IDENTITY_AT_INFERENCE,
)
#: Activations that are monotone and zero/flat on one side: ascending the value before them
#: keeps a gradient where the activation itself has none.
RELU_LIKE: frozenset[str] = frozenset(
    {
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "swish",
        "softplus",
        "mish",
        "celu",
        "hard_silu",
        "hard_swish",
    }
)


class UnsupportedModelError(ValueError):
    """A model cnn-lens cannot show; the message is one line naming the layer and the reason."""


class UnknownLayerError(KeyError):
    """A layer name that the loaded model does not list."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class InputNormalization:
    """How pixel values become model input: `x = (pixel - mean) / std`, per channel or global.

    Attributes:
        mean: one value, or one per channel.
        std: one value, or one per channel (all > 0).
        source: where it came from ("sidecar mean/std", "sidecar scale", "none: ...").
    """

    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    source: str = "none: pixels are fed as they are"

    @classmethod
    def from_sidecar(cls, entry: Any, channels: int) -> InputNormalization:
        """From the sidecar's `normalization`: `{"mean", "std"}` or `{"scale"[, "offset"]}`.

        Raises:
            ValueError: malformed entry (the caller names the file).
        """
        if entry is None:
            return cls()
        if not isinstance(entry, dict):
            raise ValueError(f"normalization must be an object, got {type(entry).__name__}")
        if "mean" in entry or "std" in entry:
            mean, std = _values(entry.get("mean", 0.0), channels), _values(entry["std"], channels)
            source = "sidecar mean/std"
        elif "scale" in entry:
            scale = _values(entry["scale"], channels)
            offset = _values(entry.get("offset", 0.0), channels)
            if any(s == 0 for s in scale):
                raise ValueError("normalization scale must not be 0")
            mean = tuple(-o / s for o, s in zip(offset * len(scale), scale, strict=False))
            std = tuple(1.0 / s for s in scale)
            source = "sidecar scale"
        else:
            raise ValueError("normalization needs mean and std, or scale")
        if any(not s > 0 for s in std):
            raise ValueError(f"normalization std must be > 0, got {std}")
        return cls(mean, std, source)

    @property
    def is_identity(self) -> bool:
        return all(m == 0.0 for m in self.mean) and all(s == 1.0 for s in self.std)

    def to_model(self, pixels: np.ndarray) -> np.ndarray:
        """`(..., C)` pixel values -> float32 model input."""
        return (
            (np.asarray(pixels, np.float32) - np.asarray(self.mean, np.float32))
            / np.asarray(self.std, np.float32)
        ).astype(np.float32)

    def to_pixels(self, x: np.ndarray) -> np.ndarray:
        """`(..., C)` float32 model input -> pixel values (not clipped)."""
        return (
            np.asarray(x, np.float32) * np.asarray(self.std, np.float32)
            + np.asarray(self.mean, np.float32)
        ).astype(np.float32)

    def describe(self) -> str:
        if self.is_identity:
            return self.source
        fmt = lambda v: ", ".join(f"{x:.4g}" for x in v)  # noqa: E731
        return f"(pixel − [{fmt(self.mean)}]) / [{fmt(self.std)}] ({self.source})"


def _values(value: Any, channels: int) -> tuple[float, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    out = tuple(float(v) for v in values)
    if len(out) not in (1, channels) or not all(np.isfinite(out)):
        raise ValueError(f"expected 1 or {channels} finite numbers, got {value!r}")
    return out


@dataclass(frozen=True)
class LayerInfo:
    """One layer worth showing.

    Attributes:
        name: the shown layer's own name (e.g. "Conv2D_1").
        kind: "maps" (output `(H, W, C)`: C maps) or "nodes" (output `(n,)`).
        shape: the shown output's shape without the batch axis.
        units: maps (C) or nodes (n).
        class_name: the Keras class ("Conv2D", "Dense", ...).
        activation: the group's activation ("relu", "softmax", "linear", ...).
        relu_like: the activation is ReLU-like, so a pre-activation value exists.
        output_layer: the Keras layer whose output is shown (the last of the group).
        members: every Keras layer of the group, in order (the shown layer first).
        has_pre: a pre-activation value exists (own ReLU-like activation, or carried through
            max pooling / Flatten from the layer before).
        is_logits: this layer gives the class scores (the model's output).
        params: trainable and non-trainable parameters of the group.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    units: int
    class_name: str
    activation: str
    relu_like: bool
    output_layer: str
    members: tuple[str, ...]
    has_pre: bool
    is_logits: bool
    params: int

    @property
    def is_maps(self) -> bool:
        return self.kind == "maps"


@dataclass(frozen=True)
class ModelDescription:
    """Everything the dashboard and the core need to know about the loaded model.

    Attributes:
        name: the Keras model's name.
        input_shape: `(H, W, C)`, C = 1 (grey) or 3 (colour).
        layers: the layers worth showing, input to output; the last gives the class scores.
        class_names: one name per class.
        normalization: pixels -> model input outside the model (from the sidecar).
        preprocessing: names of the model's own Rescaling / Normalization layers.
        output_is_logits: the model outputs raw scores (no softmax); probabilities are their
            softmax.
        chain: every Keras layer (input excluded) in order.
        not_shown: `(layer, reason)` for layers run but not listed.
        parameters: the model's parameter count.
    """

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[LayerInfo, ...]
    class_names: tuple[str, ...]
    normalization: InputNormalization
    preprocessing: tuple[str, ...]
    output_is_logits: bool
    chain: tuple[str, ...]
    not_shown: tuple[tuple[str, str], ...] = ()
    parameters: int = 0
    _by_name: dict[str, LayerInfo] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({info.name: info for info in self.layers})

    # names ---------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Every shown layer's name, input to output."""
        return tuple(info.name for info in self.layers)

    @property
    def map_layers(self) -> tuple[str, ...]:
        return tuple(info.name for info in self.layers if info.kind == "maps")

    @property
    def node_layers(self) -> tuple[str, ...]:
        """Node layers, the logits layer included (last)."""
        return tuple(info.name for info in self.layers if info.kind == "nodes")

    @property
    def hidden_node_layers(self) -> tuple[str, ...]:
        """Node layers whose nodes an OIP can target as `Node` (the logits layer excluded)."""
        return tuple(
            info.name for info in self.layers if info.kind == "nodes" and not info.is_logits
        )

    @property
    def logits_layer(self) -> str:
        return self.layers[-1].name

    @property
    def last_map_layer(self) -> str | None:
        maps = self.map_layers
        return maps[-1] if maps else None

    # sizes ---------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return self.input_shape[0]

    @property
    def width(self) -> int:
        return self.input_shape[1]

    @property
    def channels(self) -> int:
        return self.input_shape[2]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def layer(self, name: str) -> LayerInfo:
        """The `LayerInfo` of `name`.

        Raises:
            UnknownLayerError: the model lists no such layer (the message lists those it has).
        """
        info = self._by_name.get(name) if isinstance(name, str) else None
        if info is None:
            raise UnknownLayerError(
                f"unknown layer {name!r}; this model has {', '.join(self.names)}"
            )
        return info

    def units(self, name: str) -> int:
        return self.layer(name).units

    def class_name(self, k: int) -> str:
        return self.class_names[k]

    def summary(self) -> list[dict[str, Any]]:
        """One row per shown layer: name, type, kind, output shape, units, activation, params."""
        return [
            {
                "layer": info.name,
                "type": info.class_name,
                "kind": "logits" if info.is_logits else info.kind,
                "shape": info.shape,
                "units": info.units,
                "activation": info.activation,
                "members": info.members,
                "params": info.params,
            }
            for info in self.layers
        ]


# building the description ------------------------------------------------------------------


def layer_chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers (input excluded) as a single chain, input to output.

    Raises:
        UnsupportedModelError: a nested model, a layer with several inputs or several uses, a
            branch, or no single 4-D image input.
    """
    inputs = model.inputs
    if not inputs or len(inputs) != 1:
        raise UnsupportedModelError(
            f"model {model.name!r} has {len(inputs or [])} inputs; cnn-lens shows models with one "
            "image input"
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or any(d is None for d in shape[1:]) or shape[3] not in (1, 3):
        raise UnsupportedModelError(
            f"model input {shape} is not a 2-D image (batch, height, width, 1 or 3 channels)"
        )
    layers = [layer for layer in model.layers if not isinstance(layer, L.InputLayer)]
    if not layers:
        raise UnsupportedModelError(f"model {model.name!r} has no layers")
    if isinstance(model, keras.Sequential):  # a chain by construction (its nodes are rebuilt)
        for layer in layers:
            if isinstance(layer, keras.Model):
                raise UnsupportedModelError(_nested(layer))
        return layers
    # A layer's first call node is the model's own (later nodes come from calls outside it,
    # e.g. a sub-model built on the same layers).
    for layer in layers:  # name a merging layer first: it says more than "branches" would
        nodes = getattr(layer, "_inbound_nodes", [])
        if nodes and len(nodes[0].input_tensors) > 1:
            raise UnsupportedModelError(
                f"layer {layer.name!r} ({type(layer).__name__}) has {len(nodes[0].input_tensors)} "
                "inputs; cnn-lens shows chains of single-input layers"
            )
    previous = inputs[0]
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise UnsupportedModelError(_nested(layer))
        nodes = getattr(layer, "_inbound_nodes", [])
        if not nodes or nodes[0].input_tensors[0] is not previous:
            raise UnsupportedModelError(
                f"layer {layer.name!r} does not take the previous layer's output (the model "
                "branches or reuses a layer); cnn-lens shows chains of layers"
            )
        previous = nodes[0].output_tensors[0]
    if previous is not model.outputs[0] or len(model.outputs) != 1:
        raise UnsupportedModelError(f"model {model.name!r} must have one output, its last layer's")
    return layers


def _nested(layer: keras.layers.Layer) -> str:
    return (
        f"layer {layer.name!r} is a nested model ({type(layer).__name__}); cnn-lens cannot see "
        "into it: rebuild the model flat"
    )


def output_shapes(model: keras.Model, chain: Sequence[keras.layers.Layer]) -> dict[str, tuple]:
    """`{layer name: output shape with the batch axis None}` along the chain.

    Raises:
        UnsupportedModelError: a layer cannot tell its output shape.
    """
    shape = tuple(model.inputs[0].shape)
    shapes: dict[str, tuple] = {}
    for layer in chain:
        try:
            shape = tuple(layer.compute_output_shape(shape))
        except Exception as exc:  # a custom layer may not implement it
            raise UnsupportedModelError(
                f"layer {layer.name!r} ({type(layer).__name__}) cannot tell its output shape: {exc}"
            ) from exc
        shapes[layer.name] = shape
    return shapes


def activation_name(layer: keras.layers.Layer) -> str | None:
    """The elementwise activation a layer applies ("relu", ...), "linear", or None (not one)."""
    if isinstance(layer, L.ReLU):
        return "relu" if float(layer.negative_slope or 0.0) == 0.0 else "leaky_relu"
    if isinstance(layer, L.LeakyReLU):
        return "leaky_relu"
    if isinstance(layer, L.ELU):
        return "elu"
    if isinstance(layer, L.PReLU):
        return "leaky_relu"  # a learned slope: still monotone when the slope is positive
    if isinstance(layer, L.Softmax):
        return "softmax"
    fn = getattr(layer, "activation", None)
    if fn is None:
        return None
    name = keras.activations.serialize(fn)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name", "custom"))
    return str(name)


@dataclass
class _Group:
    main: keras.layers.Layer
    members: list[keras.layers.Layer]


def describe_model(
    model: keras.Model,
    class_names: Sequence[str] | None = None,
    normalization: InputNormalization | None = None,
) -> ModelDescription:
    """Describe a Keras image classifier.

    Args:
        model: a functional or Sequential Keras 3 model whose layers form one chain, with input
            `(N, H, W, C)` (C = 1 or 3) and output `(N, classes)` (softmax or raw scores).
        class_names: one per class; default "0", "1", ...
        normalization: pixels -> model input outside the model; default identity.

    Returns:
        The `ModelDescription`.

    Raises:
        UnsupportedModelError: what cannot be shown, in one line naming the layer.
    """
    chain = layer_chain(model)
    shapes = output_shapes(model, chain)
    groups: list[_Group] = []
    current: _Group | None = None
    not_shown: list[tuple[str, str]] = []
    preprocessing: list[str] = []
    for layer in chain:
        if isinstance(layer, SHOWN_TYPES):
            current = _Group(layer, [layer])
            groups.append(current)
        elif isinstance(layer, ATTACHED_TYPES) and current is not None:
            current.members.append(layer)
        elif isinstance(layer, PREPROCESSING_TYPES) and not groups:
            preprocessing.append(layer.name)
        else:
            current = None
            not_shown.append((layer.name, f"{type(layer).__name__} is run but not shown"))
    if not groups:
        raise UnsupportedModelError(f"model {model.name!r} has no layer cnn-lens can show")
    if groups[-1].members[-1] is not chain[-1] or not isinstance(
        groups[-1].main, (L.Dense, *GLOBAL_POOL_TYPES)
    ):
        raise UnsupportedModelError(
            f"the model ends with {chain[-1].name!r} ({type(chain[-1]).__name__}); cnn-lens needs "
            "the output to be the class scores of a Dense or pooling layer (with softmax or not)"
        )

    infos: list[LayerInfo] = []
    carried_pre = False  # the previous chain layer's output has a pre-activation value
    previous_layer: keras.layers.Layer | None = None
    for index, group in enumerate(groups):
        is_logits = index == len(groups) - 1
        main = group.main
        adjacent = previous_layer is not None and _follows(chain, previous_layer, main)
        shape = shapes[group.members[-1].name][1:]
        info = _describe_group(group, shape, is_logits, carried_pre and adjacent)
        infos.append(info)
        carried_pre = info.has_pre and not is_logits
        previous_layer = group.members[-1]

    out = infos[-1]
    if out.kind != "nodes" or out.units < 2:
        raise UnsupportedModelError(
            f"output layer {out.name!r} gives shape {out.shape}; cnn-lens needs class scores "
            "(batch, classes) with at least 2 classes"
        )
    if out.activation not in ("softmax", "linear"):
        raise UnsupportedModelError(
            f"output layer {out.name!r} has activation {out.activation!r}; cnn-lens needs softmax "
            "probabilities or raw class scores (linear)"
        )
    names = tuple(str(c) for c in class_names) if class_names is not None else None
    if names is None:
        names = tuple(str(k) for k in range(out.units))
    if len(names) != out.units:
        raise UnsupportedModelError(
            f"{len(names)} class names for an output of {out.units} classes"
        )
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    return ModelDescription(
        name=model.name,
        input_shape=(shape[0], shape[1], shape[2]),
        layers=tuple(infos),
        class_names=names,
        normalization=normalization or InputNormalization(),
        preprocessing=tuple(preprocessing),
        output_is_logits=out.activation == "linear",
        chain=tuple(layer.name for layer in chain),
        not_shown=tuple(not_shown),
        parameters=int(model.count_params()),
    )


def _follows(
    chain: list[keras.layers.Layer], first: keras.layers.Layer, second: keras.layers.Layer
) -> bool:
    i = chain.index(first)
    return i + 1 < len(chain) and chain[i + 1] is second


def _describe_group(
    group: _Group, output_shape: tuple, is_logits: bool, pre_from_before: bool
) -> LayerInfo:
    main = group.main
    shape = tuple(int(d) for d in output_shape)
    if len(shape) == 3:
        kind, units = "maps", shape[-1]
    elif len(shape) == 1:
        kind, units = "nodes", shape[0]
    else:
        raise UnsupportedModelError(
            f"layer {main.name!r} gives shape {shape}; cnn-lens shows maps (H, W, C) or nodes (n,)"
        )
    # The group's activation: fused into the main layer, or the last activation layer of it.
    activation, act_position = "linear", None
    for position, member in enumerate(group.members):
        name = (
            activation_name(member)
            if member is main or isinstance(member, ACTIVATION_TYPES)
            else None
        )
        if name is not None and name != "linear":
            activation, act_position = name, position
    relu_like = activation in RELU_LIKE
    # A pre-activation value exists if nothing but identity layers follow the activation.
    after = group.members[act_position + 1 :] if act_position is not None else []
    own_pre = relu_like and all(isinstance(m, IDENTITY_AT_INFERENCE) for m in after)
    carried = (
        act_position is None
        and pre_from_before
        and all(isinstance(m, COMMUTING_TYPES) for m in group.members)
    )
    return LayerInfo(
        name=main.name,
        kind=kind,
        shape=shape,
        units=int(units),
        class_name=type(main).__name__,
        activation=activation,
        relu_like=relu_like,
        output_layer=group.members[-1].name,
        members=tuple(m.name for m in group.members),
        has_pre=bool(own_pre or carried) and not is_logits,
        is_logits=is_logits,
        params=int(sum(m.count_params() for m in group.members)),
    )
