"""Run inside the peer venv (tf-keras-vis 0.8.7 on tf-keras, `TF_USE_LEGACY_KERAS=1`), called by
`bench/graphs.py`: rebuild the residual example flat in tf-keras (tf-keras-vis cannot look inside a
nested model), copy its weights, check the outputs agree, and time tf-keras-vis's activation
maximization of `maps` maps of `layer` as one batch with its defaults.

Usage: python _peer_tf_keras_vis.py DIR LAYER MAPS STEPS  (DIR holds weights.npz and check.npz;
oips.npz is written there). Prints one JSON line: seconds, output_difference.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tf_keras_vis.activation_maximization import ActivationMaximization
from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer

keras = tf.keras
layers = keras.layers


def flat_residual(num_classes: int) -> keras.Model:
    """`cnn_core.shapes.build_residual_cnn` without the nesting: the same layers and names."""
    inputs = keras.Input(shape=(32, 32, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, (width, stride) in enumerate(((16, 1), (32, 2)), start=1):
        shortcut = x
        y = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False,
                          name=f"stage{stage}_conv1")(x)  # fmt: skip
        y = layers.BatchNormalization(momentum=0.9, name=f"stage{stage}_bn1")(y)
        y = layers.ReLU(name=f"stage{stage}_relu1")(y)
        y = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"stage{stage}_conv2")(y)
        y = layers.BatchNormalization(momentum=0.9, name=f"stage{stage}_bn2")(y)
        if stride != 1 or shortcut.shape[-1] != width:
            shortcut = layers.Conv2D(width, 1, strides=stride, use_bias=False,
                                     name=f"stage{stage}_project")(shortcut)  # fmt: skip
        x = layers.Add(name=f"stage{stage}_add")([shortcut, y])
        x = layers.ReLU(name=f"stage{stage}_out")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="class")(x)
    return keras.Model(inputs, outputs)


def main() -> None:
    folder, layer, maps, steps = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    saved = np.load(folder / "weights.npz")
    check = np.load(folder / "check.npz")
    model = flat_residual(check["y"].shape[1])
    by_layer: dict[str, list[tuple[int, np.ndarray]]] = {}
    for key in saved.files:
        path, index = key.rsplit(":", 1)
        by_layer.setdefault(path.split("/")[-1], []).append((int(index), saved[key]))
    for name, weights in by_layer.items():
        model.get_layer(name).set_weights([w for _, w in sorted(weights, key=lambda t: t[0])])
    difference = float(np.abs(model(check["x"], training=False).numpy() - check["y"]).max())

    eye = tf.eye(maps)

    def score(output: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.reduce_mean(output, axis=(1, 2))[:, :maps] * eye, axis=1)

    seed = tf.random.uniform((maps, 32, 32, 3), 0, 255, seed=0)
    am = ActivationMaximization(model, model_modifier=ExtractIntermediateLayer(layer), clone=True)
    am(score, seed_input=seed, steps=2)  # traces its graph, as our engine's build does
    start = time.perf_counter()
    images = am(score, seed_input=seed, steps=steps)
    seconds = time.perf_counter() - start
    np.savez(folder / "oips.npz", images=np.asarray(images, np.float32))
    print(json.dumps({"seconds": seconds, "output_difference": difference}))


if __name__ == "__main__":
    main()
