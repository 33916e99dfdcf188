"""Any Keras image classifier: description, activations and OIPs on models other than the seed.

Three architectures unlike the seed (separate ReLU/LeakyReLU layers in a Sequential model;
"same" padding, strides, BatchNormalization, depthwise/separable convolutions and global average
pooling on colour images, raw logits; a Rescaling layer inside), each checked against Keras
itself, plus a planted model whose hidden node's weights are a known template.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnn_core.explain.activations import ActivationModel
from cnn_core.model.anatomy import UnknownLayerError, UnsupportedModelError, describe_model
from cnn_core.model.trained import ModelLoadError, TrainedModel, load_trained
from cnn_core.oip import (
    AscentOptions,
    ClassLogit,
    MapMean,
    Node,
    OipEngine,
    OipError,
    engine_for,
    objectives_for,
)

L = keras.layers


def sequential_relu_layers() -> keras.Model:
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(8, 3, name="c1"),
            L.ReLU(name="c1_relu"),
            L.MaxPooling2D(2, name="p1"),
            L.Conv2D(16, 3, name="c2"),
            L.LeakyReLU(negative_slope=0.1, name="c2_leaky"),
            L.Flatten(name="flat"),
            L.Dense(32, name="d1"),
            L.ReLU(name="d1_relu"),
            L.Dropout(0.3, name="drop"),
            L.Dense(10, name="out"),
            L.Softmax(name="softmax"),
        ],
        name="sequential_relu",
    )


def colour_same_padding() -> keras.Model:
    keras.utils.set_random_seed(2)
    inputs = keras.Input((32, 32, 3), name="rgb")
    x = L.Conv2D(8, 3, padding="same", strides=2, use_bias=False, name="stem")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    x = L.SeparableConv2D(16, 3, padding="same", activation="relu", name="sep")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.BatchNormalization(name="dw_bn")(x)
    x = L.Activation("relu", name="dw_relu")(x)
    x = L.AveragePooling2D(2, name="avg")(x)
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="drop")(x)
    outputs = L.Dense(5, name="scores")(x)  # raw logits, no softmax
    model = keras.Model(inputs, outputs, name="colour_same")
    rng = np.random.default_rng(0)
    for name in ("stem_bn", "dw_bn"):  # non-trivial BatchNormalization statistics
        gamma, beta, mean, var = model.get_layer(name).get_weights()
        model.get_layer(name).set_weights(
            [
                rng.uniform(0.5, 1.5, gamma.shape),
                rng.normal(0, 0.2, beta.shape),
                rng.normal(0, 0.2, mean.shape),
                rng.uniform(0.5, 2.0, var.shape),
            ]
        )
    return model


def rescaling_inside() -> keras.Model:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((28, 28, 1))
    x = L.Rescaling(1 / 255, name="scale")(inputs)
    x = L.Conv2D(8, 5, strides=2, activation="relu", name="conv")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(16, activation="relu", name="hidden")(x)
    outputs = L.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="rescaling_inside")


BUILDERS = {
    "sequential_relu": sequential_relu_layers,
    "colour_same": colour_same_padding,
    "rescaling_inside": rescaling_inside,
}


@pytest.fixture(scope="module", params=list(BUILDERS))
def other(request, tmp_path_factory) -> TrainedModel:
    """Each architecture saved as `.keras` (no sidecar) and loaded back like a user's model."""
    path = tmp_path_factory.mktemp("models") / f"{request.param}.keras"
    BUILDERS[request.param]().save(path)
    return load_trained(path)


@pytest.fixture(scope="module")
def engine(other) -> OipEngine:
    return engine_for(other)


def inputs_for(trained: TrainedModel, n: int = 100, seed: int = 0) -> np.ndarray:
    """`(n, H, W, C)` model input: random raw pixels 0-255 through the model's normalization."""
    rng = np.random.default_rng(seed)
    return trained.standardize(rng.uniform(0, 255, (n, *trained.desc.input_shape)))


def keras_output(model: keras.Model, layer: str, x: np.ndarray) -> np.ndarray:
    """What Keras computes for `layer`: a sub-model, or for Sequential the layers in order."""
    if isinstance(model, keras.Sequential):
        h = x
        for item in model.layers:
            h = item(h, training=False)
            if item.name == layer:
                return np.asarray(h)
        raise KeyError(layer)
    return np.asarray(keras.Model(model.inputs[0], model.get_layer(layer).output)(x))


# description ----------------------------------------------------------------------------------


def test_separate_activation_layers_belong_to_the_layer_before():
    desc = describe_model(sequential_relu_layers())
    assert desc.names == ("c1", "p1", "c2", "flat", "d1", "out")
    c1, c2, d1, out = (desc.layer(n) for n in ("c1", "c2", "d1", "out"))
    assert (c1.kind, c1.units, c1.activation, c1.output_layer) == ("maps", 8, "relu", "c1_relu")
    assert (c2.activation, c2.relu_like, c2.has_pre) == ("leaky_relu", True, True)
    assert d1.members == ("d1", "d1_relu", "drop") and d1.has_pre
    assert out.is_logits and out.activation == "softmax" and not desc.output_is_logits
    assert desc.layer("p1").has_pre and desc.layer("flat").has_pre  # carried through max/flatten
    assert desc.map_layers == ("c1", "p1", "c2") and desc.hidden_node_layers == ("flat", "d1")


def test_colour_model_description_has_rgb_input_and_raw_logits():
    desc = describe_model(colour_same_padding())
    assert desc.input_shape == (32, 32, 3) and desc.channels == 3
    assert desc.names == ("stem", "sep", "dw", "avg", "last_conv", "gap", "scores")
    stem = desc.layer("stem")
    assert stem.members == ("stem", "stem_bn", "stem_relu") and stem.shape == (16, 16, 8)
    assert stem.has_pre  # BatchNormalization before the ReLU: the ReLU's input is the pre-value
    assert not desc.layer("avg").has_pre  # average pooling does not commute with the ReLU
    assert desc.layer("gap").kind == "nodes" and desc.layer("gap").units == 16
    assert desc.output_is_logits and desc.num_classes == 5


def test_rescaling_inside_is_the_models_own_preprocessing():
    desc = describe_model(rescaling_inside())
    assert desc.preprocessing == ("scale",) and desc.names[0] == "conv"
    assert desc.normalization.is_identity


def test_unknown_layer_names_the_layers_the_model_has():
    desc = describe_model(rescaling_inside())
    with pytest.raises(UnknownLayerError, match="unknown layer 'Conv2D_3'; this model has conv"):
        desc.layer("Conv2D_3")


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: keras.Sequential([keras.Input((10,)), L.Dense(3)]),
            r"input \(None, 10\) is not a 2-D image",
        ),
        (
            lambda: _two_input_model(),
            r"model 'two_inputs' has 2 inputs; cnn-lens shows models with one image input",
        ),
        (
            lambda: _shared_layer_model(),
            r"layer 'shared' \(Conv2D\) is called more than once",
        ),
        (
            lambda: _shared_nested_model(),
            r"nested model 'inner' \(Sequential\) is called more than once",
        ),
        (
            lambda: keras.Sequential(
                [keras.Input((8, 8, 1)), L.Reshape((8, 8)), L.LSTM(4, name="lstm"), L.Dense(2)]
            ),
            r"layer 'lstm' \(LSTM\) is recurrent",
        ),
        (
            lambda: keras.Sequential([keras.Input((8, 8, 1)), L.Flatten(), L.Dense(2, "sigmoid")]),
            r"activation 'sigmoid'",
        ),
    ],
    ids=["not-an-image", "two-inputs", "shared-layer", "shared-nested", "recurrent", "sigmoid"],
)
def test_what_cannot_be_shown_gets_a_one_line_reason(build, message):
    with pytest.raises(UnsupportedModelError, match=message) as err:
        describe_model(build())
    assert "\n" not in str(err.value)


def _two_input_model() -> keras.Model:
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    x = L.Add(name="add")([L.Conv2D(2, 3)(a), L.Conv2D(2, 3)(b)])
    return keras.Model([a, b], L.Dense(2)(L.Flatten()(x)), name="two_inputs")


def _shared_layer_model() -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    shared = L.Conv2D(1, 3, padding="same", name="shared")
    x = shared(shared(inputs))
    return keras.Model(inputs, L.Dense(2)(L.Flatten()(x)))


def _shared_nested_model() -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    inner = keras.Sequential([L.Conv2D(1, 3, padding="same")], name="inner")
    x = inner(inner(inputs))
    return keras.Model(inputs, L.Dense(2)(L.Flatten()(x)))


def test_an_unsupported_layer_in_the_middle_is_run_but_not_listed():
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            L.Conv2D(4, 3, activation="relu", name="c"),
            L.ZeroPadding2D(1, name="pad"),
            L.Conv2D(4, 3, name="c2"),
            L.Flatten(name="f"),
            L.Dense(3, activation="softmax", name="o"),
        ]
    )
    desc = describe_model(model)
    assert desc.names == ("c", "c2", "f", "o") and desc.not_shown[0][0] == "pad"
    trained = TrainedModel(model)
    x = np.random.default_rng(0).normal(size=(4, 12, 12, 1)).astype(np.float32)
    engine = OipEngine(trained, precision="float32")
    values, proba = engine.evaluate([MapMean("c2", 1)] * 4, x)
    expected = keras_output(model, "c2", x)[..., 1]
    np.testing.assert_allclose(values, np.mean(expected, axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(proba, model(x), atol=1e-6)


def test_sidecar_gives_class_names_and_normalization(tmp_path):
    path = tmp_path / "m.keras"
    rescaling_inside().save(path)
    names = [f"class {k}" for k in range(10)]
    (tmp_path / "m.json").write_text(
        json.dumps({"class_names": names, "normalization": {"scale": 2.0, "offset": -1.0}})
    )
    trained = load_trained(path)
    assert trained.desc.class_names == tuple(names)
    pixels = np.zeros((1, 28, 28))
    pixels[0, 0, 1] = 0.5
    x = trained.standardize(pixels)
    assert x.shape == (1, 28, 28, 1) and x[0, 0, 0, 0] == -1.0 and x[0, 0, 1, 0] == 0.0
    np.testing.assert_allclose(trained.unstandardize(x)[..., 0], pixels, atol=1e-6)


@pytest.mark.parametrize(
    "sidecar, message",
    [
        ({"class_names": ["a", "b"]}, "2 class names for an output of 10 classes"),
        ({"normalization": {"mean": 1.0, "std": 0.0}}, "std must be > 0"),
        ({"normalization": {"offset": 1.0}}, "needs mean and std, or scale"),
    ],
)
def test_a_bad_sidecar_is_a_model_load_error_naming_the_file(tmp_path, sidecar, message):
    path = tmp_path / "m.keras"
    rescaling_inside().save(path)
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    with pytest.raises(ModelLoadError, match=message):
        load_trained(path)


# activations and the engine agree with Keras ---------------------------------------------------


def test_activations_equal_keras_submodel_outputs(other):
    acts = ActivationModel(other)
    x = inputs_for(other)
    got = acts.activations(x)
    model = other.model
    for info in other.desc.layers:
        expected = keras_output(model, info.output_layer, x)
        np.testing.assert_allclose(
            got[info.name], expected, rtol=1e-5, atol=1e-5, err_msg=info.name
        )
    proba = acts.predict_proba_batched(x)
    expected = np.asarray(model(x))
    if other.desc.output_is_logits:
        expected = np.asarray(keras.ops.softmax(expected))
    np.testing.assert_allclose(proba, expected, atol=1e-6)


def test_engine_values_equal_keras_for_every_unit_kind(other, engine):
    desc = other.desc
    x = inputs_for(other)
    model = other.model
    for info in desc.layers[:-1]:
        sub = keras_output(model, info.output_layer, x)
        unit = info.units - 1
        objective = MapMean(info.name, unit) if info.is_maps else Node(info.name, unit)
        values, proba = engine.evaluate([objective] * len(x), x)
        expected = sub[..., unit].mean(axis=(1, 2)) if info.is_maps else sub[:, unit]
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5, err_msg=info.name)
    logits, proba = engine.evaluate([ClassLogit(1)] * len(x), x)
    out = np.asarray(model(x))
    if desc.output_is_logits:
        np.testing.assert_allclose(logits, out[:, 1], atol=1e-5)
        out = np.asarray(keras.ops.softmax(out))
    np.testing.assert_allclose(proba, out, atol=1e-5)
    contrast, _ = engine.evaluate([ClassLogit(1) - ClassLogit(0)] * len(x), x)
    scores = desc.layer(desc.logits_layer).members[0]  # the Dense before any Softmax layer
    if desc.output_is_logits or scores != desc.layer(desc.logits_layer).output_layer:
        z = keras_output(model, scores, x)
        np.testing.assert_allclose(contrast, z[:, 1] - z[:, 0], rtol=1e-5, atol=1e-4)
    else:  # a fused softmax: the logits' differences are the log-probabilities' differences
        fine = (out[:, 0] > 1e-6) & (out[:, 1] > 1e-6)
        assert fine.sum() >= 10
        expected = np.log(out[fine, 1]) - np.log(out[fine, 0])
        np.testing.assert_allclose(contrast[fine], expected, atol=2e-3)


def test_an_oip_raises_every_unit_of_the_last_conv_layer_above_its_start(other, engine):
    desc = other.desc
    layer = desc.last_map_layer
    result = engine.run(
        objectives_for(layer, "all", engine.description), [0], AscentOptions(steps=60)
    )
    assert result.images.shape[1:] == (
        desc.input_shape[:2] if desc.channels == 1 else desc.input_shape
    )
    rose = result.activations > result.initial
    assert rose.all(), f"{layer}: units {np.flatnonzero(~rose)} did not rise"


def test_node_layers_and_logits_are_optimized_by_optimize_maps(other):
    from cnn_core.oip import optimize_maps

    desc = other.desc
    hidden = desc.hidden_node_layers[-1]
    result = optimize_maps(other, hidden, [0, 1], steps=30)
    assert result.descriptions == [f"{hidden} node 0", f"{hidden} node 1"]
    result = optimize_maps(other, desc.logits_layer, "all", steps=30)
    assert len(result.activations) == desc.num_classes
    assert (result.activations > result.initial).all()  # untrained weights: no class promise


def test_objectives_naming_layers_the_model_lacks_are_oip_errors(other, engine):
    with pytest.raises(OipError, match="MapMean needs a map layer of this model"):
        engine.run([MapMean("Conv2D_3", 0)], [0], AscentOptions(steps=1))
    with pytest.raises(OipError, match="class scores; maximize the pre-softmax score"):
        engine.run([Node(other.desc.logits_layer, 0)], [0], AscentOptions(steps=1))
    with pytest.raises(OipError, match="class 99 does not exist"):
        engine.run([ClassLogit(99)], [0], AscentOptions(steps=1))


def test_valid_pixel_oips_stay_inside_the_pixel_range(other, engine):
    layer = other.desc.last_map_layer
    result = engine.run([MapMean(layer, 0)], [0, 1], AscentOptions(steps=40, valid_pixels=True))
    pixels = other.unstandardize(result.images)
    assert pixels.min() >= -1e-3 and pixels.max() <= 255 + 1e-3


# planted: a node whose weights are a template --------------------------------------------------


def test_a_planted_dense_node_has_its_template_as_oip():
    yy, xx = np.mgrid[0:28, 0:28]
    ring = np.exp(-(((np.hypot(yy - 14, xx - 14) - 7) / 2.0) ** 2))  # a smooth ring
    template = (ring - ring.mean()) / ring.std()
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Flatten(name="flat"),
            L.Dense(4, activation="relu", name="hidden"),
            L.Dense(10, activation="softmax", name="out"),
        ]
    )
    kernel = np.random.default_rng(0).normal(0, 0.01, (784, 4)).astype(np.float32)
    kernel[:, 2] = template.ravel() / 784
    model.get_layer("hidden").set_weights([kernel, np.zeros(4, np.float32)])
    trained = TrainedModel(model)
    result = OipEngine(trained).run([Node("hidden", 2)], [0, 1, 2], AscentOptions(steps=100))
    for image in result.images:
        r = np.corrcoef(image.ravel(), template.ravel())[0, 1]
        assert r >= 0.9, f"correlation with the planted template {r:.3f}"


def test_defaults_of_a_large_model_open_where_there_is_something_to_see():
    from tests.zoo import ZOO

    desc = describe_model(ZOO["mobilenetv2"]())
    assert len(desc.layers) > 40
    convs = desc.conv_layers
    assert desc.first_look_layer == convs[len(convs) // 2]  # a middle convolution
    assert desc.last_conv_layer == desc.last_map_layer == "Conv_1"


def test_defaults_of_a_small_model_are_the_first_layer_and_the_last_convolution(trained):
    desc = trained.desc
    assert desc.first_look_layer == "Conv2D_1" and desc.last_conv_layer == "Conv2D_3"


def test_a_model_ending_in_pooling_gets_grad_cam_on_its_last_convolution():
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c2")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    desc = describe_model(keras.Model(inputs, outputs))
    assert desc.last_map_layer == "pool" and desc.last_conv_layer == "c2"
