"""Architectures users bring, built small (`weights=None`, small inputs), and what Keras itself
computes for a node of them: the reference the core is tested against."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

L = keras.layers
A = keras.applications


def small_resnet(classes: int = 5) -> keras.Model:
    """Two residual blocks (`Add`, BatchNorm, ReLU after the merge), GAP, softmax."""
    inputs = keras.Input((32, 32, 3), name="image")
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="stem")(inputs)
    for k in (1, 2):
        y = L.Conv2D(16, 3, padding="same", name=f"b{k}_conv1")(x)
        y = L.BatchNormalization(name=f"b{k}_bn1")(y)
        y = L.ReLU(name=f"b{k}_relu1")(y)
        y = L.Conv2D(16, 3, padding="same", name=f"b{k}_conv2")(y)
        y = L.BatchNormalization(name=f"b{k}_bn2")(y)
        x = L.ReLU(name=f"b{k}_out")(L.Add(name=f"b{k}_add")([x, y]))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax", name="probs")(x), name="rn")


def keras_io_xception_like(classes: int = 2) -> keras.Model:
    """keras.io "image classification from scratch": SeparableConv2D + residual `add`."""
    inputs = keras.Input((32, 32, 3))
    x = L.Rescaling(1.0 / 255)(inputs)
    x = L.Conv2D(32, 3, strides=2, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    previous = x
    for size in (64, 128):
        x = L.Activation("relu")(x)
        x = L.SeparableConv2D(size, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.SeparableConv2D(size, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = L.Conv2D(size, 1, strides=2, padding="same")(previous)
        x = L.add([x, residual])
        previous = x
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.25)(x)
    return keras.Model(inputs, L.Dense(classes)(x), name="keras_io")


def inception_block(classes: int = 10) -> keras.Model:
    """Three branches joined by `Concatenate`, on grey 28x28 digits."""
    inputs = keras.Input((28, 28, 1))
    a = L.Conv2D(8, 1, activation="relu", name="a1x1")(inputs)
    b = L.Conv2D(8, 3, padding="same", activation="relu", name="b3x3")(inputs)
    c = L.MaxPooling2D(3, 1, padding="same", name="c_pool")(inputs)
    c = L.Conv2D(8, 1, activation="relu", name="c1x1")(c)
    x = L.Concatenate(name="mix")([a, b, c])
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Flatten(name="flat")(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(x), name="inception")


def transfer_mobilenet(classes: int = 3, size: int = 32) -> keras.Model:
    """The usual transfer-learning model: a nested MobileNetV2 base between Rescaling and GAP."""
    base = A.MobileNetV2(input_shape=(size, size, 3), alpha=0.35, include_top=False, weights=None)
    inputs = keras.Input((size, size, 3))
    x = L.Rescaling(1 / 127.5, offset=-1, name="rescale")(inputs)
    x = base(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, L.Dense(classes, name="scores")(x), name="transfer")


def augmented_sequential(classes: int = 10) -> keras.Model:
    """A Sequential whose first layer is a nested augmentation block."""
    augment = keras.Sequential([L.RandomFlip(), L.RandomRotation(0.1)], name="augment")
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            augment,
            L.Conv2D(8, 3, activation="relu", name="conv"),
            L.MaxPooling2D(name="pool"),
            L.Flatten(name="flat"),
            L.Dense(classes, activation="softmax", name="out"),
        ],
        name="augmented",
    )


def _application(build: Callable[..., keras.Model], size: int, **kwargs) -> keras.Model:
    return build(input_shape=(size, size, 3), weights=None, classes=4, **kwargs)


#: name -> builder, small inputs (each builds offline in about a second).
ZOO: dict[str, Callable[[], keras.Model]] = {
    "small_resnet": small_resnet,
    "keras_io": keras_io_xception_like,
    "inception": inception_block,
    "transfer": transfer_mobilenet,
    "augmented": augmented_sequential,
    "mobilenetv2": lambda: _application(A.MobileNetV2, 32, alpha=0.35),
    "efficientnetb0": lambda: _application(A.EfficientNetB0, 32),
    "mobilenetv3small": lambda: _application(A.MobileNetV3Small, 32),
    "densenet121": lambda: _application(A.DenseNet121, 32),
    "resnet50v2": lambda: _application(A.ResNet50V2, 32),
    "xception": lambda: _application(A.Xception, 71),
    "convnexttiny": lambda: _application(A.ConvNeXtTiny, 32),
}


def _own_node(model: keras.Model, name: str):
    """The node of the layer (or Keras operation, `x + y`) called `name` in `model`'s graph."""
    graph = model._functional if isinstance(model, keras.Sequential) else model
    for nodes in graph._nodes_by_depth.values():
        for node in nodes:
            if node.operation is not None and node.operation.name == name:
                return node
    raise KeyError(name)


def keras_reference(model: keras.Model, path: str, x: np.ndarray) -> np.ndarray:
    """What Keras computes for the layer at `path` (`outer/inner/...`) on model input `x`.

    A top-level layer: `keras.Model(model.inputs[0], <its output>)(x)`. A layer inside a
    nested model: the outer sub-model that computes what the outer graph feeds the nested
    model, then the nested model's own sub-model for the rest of the path.
    """
    head, _, rest = path.partition("/")
    node = _own_node(model, head)
    if not rest:
        sub = keras.Model(model.inputs[0], node.outputs[0])
        return np.asarray(sub(x, training=False))
    fed = keras.Model(model.inputs[0], node.input_tensors[0])
    return keras_reference(node.operation, rest, np.asarray(fed(x, training=False)))


def keras_references(model: keras.Model, paths: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    """`keras_reference` for many paths at once: one sub-model per nested model."""
    scopes: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition("/")
        scopes.setdefault(head if rest else "", []).append(path)
    out: dict[str, np.ndarray] = {}
    for head, members in scopes.items():
        if not head:
            tensors = [_own_node(model, p).outputs[0] for p in members]
            sub = keras.Model(model.inputs[0], tensors)
            values = sub(x, training=False)
            values = values if isinstance(values, list | tuple) else [values]
            out.update({p: np.asarray(v) for p, v in zip(members, values, strict=True)})
            continue
        node = _own_node(model, head)
        fed = np.asarray(keras.Model(model.inputs[0], node.input_tensors[0])(x, training=False))
        inner = keras_references(node.operation, [p.partition("/")[2] for p in members], fed)
        out.update({f"{head}/{p}": v for p, v in inner.items()})
    return out
