"""What a loaded Keras image classifier is: its input, the nodes worth showing as a graph (what
each reads from), their units, activations and pre-activation values, which node gives the class
logits, its classes and input normalization. Derived from the Keras model itself (walked by
`cnn_core.model.graph`, nested models seen through); everything else asks this description.

A node "worth showing" is a convolution (Conv2D, DepthwiseConv2D, SeparableConv2D,
Conv2DTranspose), a pooling layer, Flatten, a global pooling layer, Dense or a merge (Add,
Subtract, Multiply, Average, Maximum, Minimum, Concatenate). The elementwise layers that follow
it (BatchNormalization, activation layers, Dropout and friends) belong to it while nothing else
reads the value between them: the shown output is the last of them, so `Conv2D →
BatchNormalization → ReLU` is shown once, after the ReLU, under the convolution's name. A layer
inside a nested model is named by its path, `outer/inner`. Anything else (Reshape,
ZeroPadding2D, Resizing, custom layers, ...) is run but not listed. Rescaling / Normalization and
the augmentation layers (identity at inference) before the first shown node are the model's own
input preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from cnn_core.config import SMALL_MODEL_NODES
from cnn_core.model.graph import INPUT, GraphError, LayerGraph, Op, layer_graph

L = keras.layers

#: Layers listed as their own entry, with the kind of output they give.
CONV_TYPES: tuple[type, ...] = (
    L.Conv2D,
    L.DepthwiseConv2D,
    L.SeparableConv2D,
    L.Conv2DTranspose,
)
POOL_TYPES: tuple[type, ...] = (L.MaxPooling2D, L.AveragePooling2D)
GLOBAL_POOL_TYPES: tuple[type, ...] = (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)
#: Layers that join several branches into one value.
MERGE_TYPES: tuple[type, ...] = (
    L.Add,
    L.Subtract,
    L.Multiply,
    L.Average,
    L.Maximum,
    L.Minimum,
    L.Concatenate,
)
SHOWN_TYPES: tuple[type, ...] = (
    *CONV_TYPES,
    *POOL_TYPES,
    *GLOBAL_POOL_TYPES,
    L.Flatten,
    L.Dense,
    *MERGE_TYPES,
)
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
#: Random augmentation: run as Keras runs it at inference (`training=False`), the identity for
#: most of them.
AUGMENTATION_TYPES: tuple[type, ...] = tuple(
    getattr(L, name)
    for name in (
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
        "RandomBrightness",
        "RandomCrop",
        "RandomHeight",
        "RandomWidth",
        "RandomGrayscale",
        "RandomHue",
        "RandomSaturation",
        "RandomSharpness",
        "RandomShear",
        "RandomColorJitter",
        "RandomPerspective",
        "RandomGaussianBlur",
        "RandomErasing",
        "RandomInvert",
        "RandomPosterization",
        "AugMix",
        "RandAugment",
        "CutMix",
        "MixUp",
        "Solarization",
    )
    if hasattr(L, name)
)
#: The model's own input preprocessing when it comes before the first shown node.
PREPROCESSING_TYPES: tuple[type, ...] = (
    L.Rescaling,
    L.Normalization,
    L.Resizing,
    L.CenterCrop,
    *AUGMENTATION_TYPES,
)
#: Layers cnn-lens does not show models with (not image classifiers).
RECURRENT_TYPES: tuple[type, ...] = (L.RNN,)
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
        "bounded_relu",
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


#: The model's input in `LayerInfo.inputs`.
INPUT_NODE = "<input>"
MERGE_NAMES: frozenset[str] = frozenset(t.__name__ for t in MERGE_TYPES)
CONV_NAMES: frozenset[str] = frozenset(t.__name__ for t in CONV_TYPES)


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
    """One node worth showing.

    Attributes:
        name: the shown layer's path (e.g. "Conv2D_1", "mobilenetv2_0.35_64/block_3_expand").
        kind: "maps" (output `(H, W, C)`: C maps) or "nodes" (output `(n,)`).
        shape: the shown output's shape without the batch axis.
        units: maps (C) or nodes (n).
        class_name: the Keras class ("Conv2D", "Dense", ...).
        activation: the group's activation ("relu", "softmax", "linear", ...).
        relu_like: the activation is ReLU-like, so a pre-activation value exists.
        output_layer: the path of the Keras layer whose output is shown (the last of the group).
        members: the path of every Keras layer of the group, in order (the shown layer first).
        has_pre: a pre-activation value exists (own ReLU-like activation, or carried through
            max pooling / Flatten from the layer before).
        is_logits: this layer gives the class scores (the model's output).
        params: trainable and non-trainable parameters of the group.
        inputs: the shown nodes this node reads from, through layers that are not shown
            (`INPUT_NODE` for the model's input), so the graph can be drawn.
        member_types: the Keras class of each member.
        scope: the nested model's path the node sits in ("" at the top level).
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
    inputs: tuple[str, ...] = ()
    member_types: tuple[str, ...] = ()
    scope: str = ""

    @property
    def is_merge(self) -> bool:
        return self.class_name in MERGE_NAMES

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
        ops: the path of every Keras call (input excluded), in a topological order.
        not_shown: `(layer path, reason)` for layers run but not listed.
        parameters: the model's parameter count.
        nested: the paths of the nested models, outer before inner.
    """

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[LayerInfo, ...]
    class_names: tuple[str, ...]
    normalization: InputNormalization
    preprocessing: tuple[str, ...]
    output_is_logits: bool
    ops: tuple[str, ...]
    not_shown: tuple[tuple[str, str], ...] = ()
    parameters: int = 0
    nested: tuple[str, ...] = ()
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

    @property
    def conv_layers(self) -> tuple[str, ...]:
        """Map nodes computed by a convolution (any of `CONV_NAMES` among their members)."""
        return tuple(
            info.name
            for info in self.layers
            if info.kind == "maps" and CONV_NAMES.intersection(info.member_types)
        )

    @property
    def last_conv_layer(self) -> str | None:
        """Grad-CAM's classic layer: the last map node when a convolution or a merge of
        branches computes it (the seed's Conv2D_3, MobileNetV2's Conv_1, a ResNet's last `Add`
        block output: a projection shortcut's 1x1 convolution before it is not the one), else
        the last convolution (a model ending in max pooling), else the last map node."""
        last = self.last_map_layer
        if last is None:
            return None
        info = self.layer(last)
        if info.is_merge or CONV_NAMES.intersection(info.member_types):
            return last
        convs = self.conv_layers
        return convs[-1] if convs else last

    @property
    def first_look_layer(self) -> str:
        """The node the explorer opens on: the first node of a small model (the seed's
        Conv2D_1), the middle convolution of a large one (`SMALL_MODEL_NODES`), where maps are
        neither edges nor 2x2 abstractions."""
        convs = self.conv_layers
        if len(self.layers) <= SMALL_MODEL_NODES or not convs:
            return self.layers[0].name
        return convs[len(convs) // 2]

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
            shown = repr(name) if len(repr(name)) <= 80 else f"{repr(name)[:60]}... (cut)"
            names = self.names
            listed = ", ".join(names[:12]) + (
                f", ... ({len(names)} in all)" if len(names) > 12 else ""
            )
            raise UnknownLayerError(f"unknown layer {shown}; this model has {listed}")
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
                "inputs": info.inputs,
            }
            for info in self.layers
        ]


# building the description ------------------------------------------------------------------


def activation_name(layer: Any) -> str | None:
    """The elementwise activation a layer applies ("relu", ...), "linear", or None (not one)."""
    if isinstance(layer, L.ReLU):
        if float(layer.negative_slope or 0.0) != 0.0:
            return "leaky_relu"
        if layer.max_value is None:
            return "relu"
        return "relu6" if float(layer.max_value) == 6.0 else "bounded_relu"
    if isinstance(layer, L.LeakyReLU):
        return "leaky_relu"
    if isinstance(layer, L.ELU):
        return "elu"
    if isinstance(layer, L.PReLU):
        return "leaky_relu"  # a learned slope: still monotone when the slope is positive
    if isinstance(layer, L.Softmax):
        return "softmax"
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    name = keras.activations.serialize(fn)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name", "custom"))
    return str(name)


def fused_activation(layer: Any) -> str | None:
    """The activation a layer applies to its own result (`Conv2D(..., activation="relu")`),
    or None; never an activation layer itself."""
    if not isinstance(layer, L.Layer) or isinstance(layer, ACTIVATION_TYPES):
        return None
    act = activation_name(layer)
    return None if act in (None, "linear") else act


def pre_activations(graph: LayerGraph) -> dict[int, str]:
    """`{value id: activation}` for the values whose pre-activation value the forward pass of
    `cnn_core.model.forward.ExposedForward` keeps: the output of a fused or separate activation,
    carried through layers that commute with it (max pooling, Flatten, identity at inference)."""
    pre: dict[int, str] = {}
    for op in graph:
        act = fused_activation(op.layer)
        if isinstance(op.layer, ACTIVATION_TYPES):
            act = activation_name(op.layer)
        elif act is None and isinstance(op.layer, COMMUTING_TYPES) and op.reads[0] in pre:
            act = pre[op.reads[0]]
        if act is not None and len(op.writes) == 1:
            pre[op.writes[0]] = act
    return pre


#: Keras operations that merge two tensors when a model writes `x + y` (ConvNeXt's residuals).
OP_MERGE_NAMES: frozenset[str] = frozenset({"Add", "Subtract", "Multiply", "Maximum", "Minimum"})


def _is_op_merge(op: Op) -> bool:
    return not op.is_layer and op.type_name in OP_MERGE_NAMES and len(op.reads) == 2


@dataclass
class _Group:
    main: Op
    members: list[Op]
    value: int  # the value the group gives (its last member's output)


def describe_model(
    model: keras.Model,
    class_names: Sequence[str] | None = None,
    normalization: InputNormalization | None = None,
) -> ModelDescription:
    """Describe a Keras image classifier.

    Args:
        model: a Functional or Sequential Keras 3 model (branches, merges and nested models of
            either kind allowed), with one input `(N, H, W, C)` (C = 1 or 3) and one output
            `(N, classes)` (softmax or raw scores).
        class_names: one per class; default "0", "1", ...
        normalization: pixels -> model input outside the model; default identity.

    Returns:
        The `ModelDescription`.

    Raises:
        UnsupportedModelError: what cannot be shown, in one line naming the layer.
    """
    try:
        graph = layer_graph(model)
    except GraphError as exc:
        raise UnsupportedModelError(str(exc)) from exc
    shapes = graph.shapes
    groups: list[_Group] = []
    open_groups: dict[int, _Group] = {}  # value id -> the group it ends, while it may grow
    not_shown: list[tuple[str, str]] = []
    preprocessing: list[str] = []
    for op in graph:
        layer = op.layer
        if isinstance(layer, RECURRENT_TYPES):
            raise UnsupportedModelError(
                f"layer {op.path!r} ({op.type_name}) is recurrent; cnn-lens shows convolutional "
                "image classifiers"
            )
        source = open_groups.get(op.reads[0]) if len(op.reads) == 1 else None
        if (isinstance(layer, SHOWN_TYPES) or _is_op_merge(op)) and len(op.writes) == 1:
            group = _Group(op, [op], op.writes[0])
            groups.append(group)
            open_groups[group.value] = group
        elif (
            isinstance(layer, ATTACHED_TYPES)
            and source is not None
            and graph.consumers[op.reads[0]] == 1  # (the model's output counts as a reader)
        ):
            del open_groups[source.value]
            source.members.append(op)
            source.value = op.writes[0]
            open_groups[source.value] = source
        elif isinstance(layer, PREPROCESSING_TYPES) and not groups:
            preprocessing.append(op.path)
        else:
            not_shown.append((op.path, f"{op.type_name} is run but not shown"))
    if not groups:
        raise UnsupportedModelError(f"model {model.name!r} has no layer cnn-lens can show")
    last_op = graph.ops[-1]
    out_group = groups[-1]
    main = out_group.main
    # class scores: a Dense or global pooling layer, or the Flatten of a 1x1 map of scores
    # (a convolutional head, as MobileNetV3's)
    scores = isinstance(main.layer, (L.Dense, *GLOBAL_POOL_TYPES)) or (
        isinstance(main.layer, L.Flatten) and shapes[main.reads[0]][:2] == (1, 1)
    )
    if out_group.value != graph.output or not scores:
        raise UnsupportedModelError(
            f"the model ends with {last_op.path.split('/')[-1]!r} ({last_op.type_name}); "
            "cnn-lens needs the output to be the class scores of a Dense or pooling layer (with "
            "softmax or not)"
        )

    pre = pre_activations(graph)
    # Which shown nodes each value comes from, through layers that are not shown.
    origin: dict[int, tuple[str, ...]] = {INPUT: (INPUT_NODE,)}
    group_of_main = {id(g.main): g for g in groups}
    infos: list[LayerInfo] = []
    for op in graph:
        reads = tuple(dict.fromkeys(n for v in op.reads for n in origin.get(v, ())))
        group = group_of_main.get(id(op))
        if group is not None:
            shape = shapes[group.value]
            is_logits = group is out_group
            info = _describe_group(group, shape, reads, is_logits, pre.get(group.value))
            if info is None:
                not_shown.append((op.path, f"{op.type_name} gives shape {shape}, not maps"))
                for member in group.members:
                    origin[member.writes[0]] = reads
                continue
            infos.append(info)
            for member in group.members:
                origin[member.writes[0]] = (info.name,)
        elif op.writes[0] not in origin:
            for v in op.writes:
                origin[v] = reads

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
    h, w, c = graph.input_shape
    return ModelDescription(
        name=model.name,
        input_shape=(h, w, c),
        layers=tuple(infos),
        class_names=names,
        normalization=normalization or InputNormalization(),
        preprocessing=tuple(preprocessing),
        output_is_logits=out.activation == "linear",
        ops=tuple(op.path for op in graph),
        not_shown=tuple(not_shown),
        parameters=int(model.count_params()),
        nested=_nested_paths(graph),
    )


def _nested_paths(graph: LayerGraph) -> tuple[str, ...]:
    scopes: dict[str, None] = {}
    for op in graph:
        parts = op.path.split("/")[:-1]
        for k in range(1, len(parts) + 1):
            scopes["/".join(parts[:k])] = None
    return tuple(scopes)


def _describe_group(
    group: _Group,
    output_shape: tuple,
    inputs: tuple[str, ...],
    is_logits: bool,
    pre_activation: str | None,
) -> LayerInfo | None:
    """The `LayerInfo` of a group, or None when its output is neither maps nor nodes."""
    main = group.main
    if any(d is None for d in output_shape):
        return None
    shape = tuple(int(d) for d in output_shape)
    if len(shape) == 3:
        kind, units = "maps", shape[-1]
    elif len(shape) == 1:
        kind, units = "nodes", shape[0]
    elif is_logits:
        raise UnsupportedModelError(
            f"layer {main.path!r} gives shape {shape}; cnn-lens shows maps (H, W, C) or nodes (n,)"
        )
    else:
        return None
    # The group's activation: fused into the main layer, or the last activation layer of it.
    activation = "linear"
    for member in group.members:
        name = (
            activation_name(member.layer)
            if member is main or isinstance(member.layer, ACTIVATION_TYPES)
            else None
        )
        if name is not None and name != "linear":
            activation = name
    relu_like = activation in RELU_LIKE
    has_pre = pre_activation in RELU_LIKE
    return LayerInfo(
        name=main.path,
        kind=kind,
        shape=shape,
        units=int(units),
        class_name=main.type_name,
        activation=activation,
        relu_like=relu_like,
        output_layer=group.members[-1].path,
        members=tuple(m.path for m in group.members),
        has_pre=bool(has_pre) and not is_logits,
        is_logits=is_logits,
        params=int(sum(m.layer.count_params() for m in group.members if m.is_layer)),
        inputs=inputs,
        member_types=tuple(m.type_name for m in group.members),
        scope=main.path.rpartition("/")[0],
    )
