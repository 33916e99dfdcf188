"""Activations of all layers for one digit: the seed's per-layer way against ActivationModel.

The seed (`img_grid_of_layer_activation`) loads the model file, builds
`Model(cnnx.input, layer.output)` and calls `predict` on one image, for every layer it draws.
Both ways are measured here, in the same run, on the same digits.
"""

from __future__ import annotations

import keras
from _common import comparison, emit, time_calls

from cnn_core import config
from cnn_core.data.sources import load_mnist
from cnn_core.explain.activations import ActivationModel
from cnn_core.model.trained import load_trained


def main() -> None:
    trained = load_trained()
    data = load_mnist()
    x_all = trained.standardize(data.x_test[:64])
    acts = ActivationModel(trained)
    desc = trained.desc
    # the Keras layer whose output each shown layer is (the last of its group)
    outputs = [desc.layer(name).output_layer for name in desc.names]
    counter = iter(range(10**9))

    def digit():
        i = next(counter) % len(x_all)
        return x_all[i : i + 1]

    def seed_way(model: keras.Model) -> None:
        x = digit()
        for name in outputs:
            sub = keras.Model(model.input, model.get_layer(name).output)
            sub.predict(x, verbose=0)

    def seed_way_with_load() -> None:
        path = config.default_model_path()
        x = digit()
        for name in outputs:
            model = keras.saving.load_model(path, compile=False)
            keras.Model(model.input, model.get_layer(name).output).predict(x, verbose=0)

    ours = time_calls(lambda: acts.activations(digit()), repeats=300, warmup=10)
    baseline = time_calls(lambda: seed_way(trained.model), repeats=12)
    comparison(
        "activations_all_layers",
        baseline,
        ours,
        baseline_desc="seed: Model(input, layer.output).predict per layer, model in memory",
        desc="ActivationModel.activations: one multi-output tf.function",
        layers=len(desc.names),
    )
    baseline_load = time_calls(seed_way_with_load, repeats=4)
    comparison(
        "activations_all_layers_seed_with_model_load",
        baseline_load,
        ours,
        baseline_desc="seed as written: load_model + sub-model + predict, per layer, per call",
        desc="ActivationModel.activations",
    )
    batch = trained.standardize(data.x_test[:256])
    batch_ms = time_calls(lambda: acts.activations(batch), repeats=20, warmup=2)
    emit("activations_batch_256", p50_ms=round(sorted(batch_ms)[10], 2), digits=256)


if __name__ == "__main__":
    main()
