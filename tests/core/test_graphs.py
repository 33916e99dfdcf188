"""Graphs and nested models: residual nets, branches, Keras Applications, a nested base, a nested
augmentation block, legacy HDF5 files. Every shown node is computed exactly as Keras computes it,
and the OIP engine and Grad-CAM work on nodes deep inside them."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnn_core.data.sources import load_dataset
from cnn_core.explain.activations import ActivationModel
from cnn_core.explain.attribution import attribute
from cnn_core.model.anatomy import INPUT_NODE, UnsupportedModelError, describe_model
from cnn_core.model.forward import ExposedForward
from cnn_core.model.trained import TrainedModel, load_trained
from cnn_core.oip import AscentOptions, MapMean, engine_for
from tests.zoo import ZOO, keras_references

L = keras.layers

#: Architectures checked node by node against Keras (the others are described and loaded).
EQUALITY = (
    "small_resnet",
    "keras_io",
    "inception",
    "transfer",
    "augmented",
    "mobilenetv3small",
)  # EfficientNetB0 and the rest: bench/graphs.py reports their difference to Keras


class _Zoo(dict):
    """Each architecture built on first use, once for the module (weights=None, small inputs)."""

    def __missing__(self, name: str) -> keras.Model:
        self[name] = ZOO[name]()
        return self[name]

    def describe(self, name: str):
        """The architecture's description, made once."""
        if name not in self.descriptions:
            self.descriptions[name] = describe_model(self[name])
        return self.descriptions[name]

    def __init__(self) -> None:
        super().__init__()
        self.descriptions: dict = {}


@pytest.fixture(scope="module")
def zoo():
    return _Zoo()


def _inputs(model: keras.Model, n: int = 20, seed: int = 0) -> np.ndarray:
    shape = tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype(np.float32)


# description -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ZOO))
def test_every_architecture_is_described_as_a_graph_in_topological_order(zoo, name):
    desc = zoo.describe(name)
    seen = {INPUT_NODE}
    for info in desc.layers:
        assert info.inputs and set(info.inputs) <= seen, (info.name, info.inputs)
        seen.add(info.name)
    assert len(set(desc.names)) == len(desc.names)
    assert desc.layers[-1].is_logits and desc.layers[-1].units == zoo[name].outputs[0].shape[-1]
    assert desc.map_layers and all(desc.layer(n).units >= 1 for n in desc.names)


@pytest.mark.parametrize(
    "name, merges, nested",
    [
        ("small_resnet", {"Add": 2}, ()),
        ("keras_io", {"Add": 2}, ()),
        ("inception", {"Concatenate": 1}, ()),
        ("transfer", {"Add": 10}, ("mobilenetv2_0.35_32",)),
        ("augmented", {}, ("augment",)),
        ("efficientnetb0", {"Multiply": 16, "Add": 9}, ()),
        ("densenet121", {"Concatenate": 58}, ()),
    ],
)
def test_merges_are_nodes_and_nested_layers_are_named_by_path(zoo, name, merges, nested):
    desc = zoo.describe(name)
    counted: dict[str, int] = {}
    for info in desc.layers:
        if info.is_merge:
            counted[info.class_name] = counted.get(info.class_name, 0) + 1
            assert len(info.inputs) >= 2, info.name  # a merge reads two branches
    assert counted == merges
    assert desc.nested == nested
    for scope in nested:
        inside = [n for n in desc.names if n.startswith(f"{scope}/")]
        assert all(desc.layer(n).scope == scope for n in inside)


def test_a_nested_base_is_seen_through_with_its_own_layer_names(zoo):
    desc = zoo.describe("transfer")
    node = desc.layer("mobilenetv2_0.35_32/block_3_expand")
    assert node.class_name == "Conv2D" and node.kind == "maps"
    assert node.members == (
        "mobilenetv2_0.35_32/block_3_expand",
        "mobilenetv2_0.35_32/block_3_expand_BN",
        "mobilenetv2_0.35_32/block_3_expand_relu",
    )
    assert node.activation == "relu6" and node.has_pre
    assert node.inputs == ("mobilenetv2_0.35_32/block_2_add",)
    assert desc.preprocessing == ("rescale",)
    assert desc.logits_layer == "scores" and desc.layer("scores").inputs == ("gap",)
    assert desc.layer("gap").inputs == ("mobilenetv2_0.35_32/Conv_1",)  # its ReLU is out_relu


def test_an_augmentation_block_is_the_models_own_preprocessing(zoo):
    desc = describe_model(zoo["augmented"])
    assert desc.preprocessing == ("augment/random_flip", "augment/random_rotation")
    assert desc.names == ("conv", "pool", "flat", "out")
    x = _inputs(zoo["augmented"], 4)
    acts = ActivationModel(TrainedModel(zoo["augmented"]))
    np.testing.assert_array_equal(acts.layer(x, "out"), zoo["augmented"](x, training=False))


def test_a_value_read_by_two_branches_ends_its_node_there():
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(4, 3, padding="same", name="conv")(inputs)
    a = L.BatchNormalization(name="bn")(x)  # reads conv's output beside the shortcut
    y = L.Add(name="add")([x, L.Conv2D(4, 1, name="proj")(a)])
    model = keras.Model(inputs, L.Dense(2)(L.GlobalAveragePooling2D(name="gap")(y)))
    desc = describe_model(model)
    assert desc.layer("conv").members == ("conv",)
    assert ("bn", "BatchNormalization is run but not shown") in desc.not_shown
    assert desc.layer("proj").inputs == ("conv",)  # through the BatchNorm that is not shown
    assert desc.layer("add").inputs == ("conv", "proj")


# equality with Keras ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EQUALITY)
def test_every_node_equals_keras_on_20_random_inputs(zoo, name):
    model = zoo[name]
    trained = TrainedModel(model)
    desc = trained.desc
    x = _inputs(model)
    got = ActivationModel(trained).activations(x)
    separate = [
        i for i in desc.layers if i.has_pre and i.member_types[-1] in ("ReLU", "Activation")
    ]
    paths = [desc.layer(n).output_layer for n in desc.names[:-1]]
    expected = keras_references(model, paths + [i.members[-2] for i in separate], x)
    expected[desc.logits_layer] = np.asarray(model(x, training=False))
    exposed, pres, logits = ExposedForward(model, desc)(x)
    for info in desc.layers:
        want = expected[info.output_layer if not info.is_logits else info.name]
        scale = np.abs(want).max() + 1e-6
        assert np.abs(got[info.name] - want).max() <= 1e-4 * scale, info.name
        assert np.abs(np.asarray(exposed[info.name]) - want).max() <= 1e-4 * scale, info.name
        if pres[info.name] is None:
            continue
        pre = np.asarray(pres[info.name]())  # the value before the node's activation
        if info in separate:  # Keras computes it: the layer before the activation layer
            assert np.abs(pre - expected[info.members[-2]]).max() <= 1e-4 * scale, info.name
        elif len(info.members) == 1 and info.activation != "linear":  # fused into the layer
            activated = np.asarray(keras.activations.get(info.activation)(pre))
            assert np.abs(activated - want).max() <= 1e-4 * scale, info.name
    np.testing.assert_allclose(
        np.asarray(logits), ActivationModel(trained).logits_of(x), atol=1e-4, rtol=1e-4
    )


def test_one_node_of_a_big_graph_is_answered_by_its_own_traced_function(zoo):
    trained = TrainedModel(zoo["densenet121"])
    acts = ActivationModel(trained)
    assert not acts._traced  # 184 nodes: nothing is traced until asked
    x = _inputs(zoo["densenet121"], 3)
    node = "conv3_block2_concat"
    one = acts.layer(x, node)
    assert list(acts._traced) == [(node,)]
    expected = keras_references(zoo["densenet121"], [acts.description.layer(node).output_layer], x)
    np.testing.assert_allclose(one, next(iter(expected.values())), atol=1e-4, rtol=1e-4)
    acts.layer(x, node)
    assert list(acts._traced) == [(node,)]  # reused, not traced again


# loading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".hdf5"])
def test_a_residual_model_saved_without_sidecar_loads_from_any_keras_file(tmp_path, zoo, suffix):
    path = tmp_path / f"model{suffix}"
    zoo["small_resnet"].save(path)
    trained = load_trained(path)
    assert trained.meta == {} and trained.desc.class_names == tuple("01234")
    x = _inputs(zoo["small_resnet"], 4)
    np.testing.assert_allclose(
        ActivationModel(trained).predict_proba(x), zoo["small_resnet"](x), atol=1e-6
    )


def test_a_transfer_model_with_a_nested_base_survives_save_and_load(tmp_path, zoo):
    path = tmp_path / "transfer.keras"
    zoo["transfer"].save(path)
    (tmp_path / "transfer.json").write_text(json.dumps({"class_names": ["a", "b", "c"]}))
    trained = load_trained(path)
    assert trained.desc.summary() == describe_model(zoo["transfer"]).summary()
    x = _inputs(zoo["transfer"], 2)
    node = "mobilenetv2_0.35_32/block_5_project"
    np.testing.assert_allclose(
        ActivationModel(trained).layer(x, node),
        ActivationModel(TrainedModel(zoo["transfer"])).layer(x, node),
        atol=1e-5,
    )


def test_a_custom_subclassed_model_is_refused_in_one_line():
    class Tiny(keras.Model):
        def __init__(self):
            super().__init__(name="tiny")
            self.conv = L.Conv2D(2, 3)
            self.out = L.Dense(2)

        def call(self, x):
            return self.out(keras.ops.mean(self.conv(x), axis=(1, 2)))

    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, Tiny()(inputs))
    with pytest.raises(UnsupportedModelError, match="'tiny' .* subclassed model") as err:
        describe_model(model)
    assert "\n" not in str(err.value)


# OIPs and Grad-CAM on graphs -------------------------------------------------------------------


def _deep_node(trained: TrainedModel) -> str:
    maps = [i for i in trained.desc.layers if i.is_maps and i.units >= 16]
    return maps[int(len(maps) * 0.75)].name


def test_oips_of_16_units_of_a_deep_node_of_a_nested_base_beat_their_random_start(zoo):
    # bench/graphs.py reports the same for every architecture of the zoo
    trained = TrainedModel(zoo["transfer"])
    node = _deep_node(trained)
    engine = engine_for(trained, node)  # 64 nodes: an engine for this node alone
    assert engine.layers == (node,) and engine_for(trained, node) is engine
    result = engine.run([MapMean(node, u) for u in range(16)], [0], AscentOptions(steps=30))
    assert (result.activations > result.initial).sum() >= 14, node
    # an engine for one node refuses another, saying how to get one
    other = trained.desc.map_layers[2]
    with pytest.raises(ValueError, match=r"built for .*engine_for\(trained, layer\)"):
        engine.evaluate([MapMean(other, 0)], np.zeros((1, 32, 32, 3), np.float32))


def test_engine_for_gives_a_small_model_one_engine_for_every_node(residual):
    trained, _ = residual  # 10 nodes, whatever the layer asked for
    engine = engine_for(trained, "residual_base/stage2_add")
    assert engine.layers == trained.desc.names and engine_for(trained, "gap") is engine


@pytest.fixture(scope="module")
def residual(residual_path):
    trained = load_trained(residual_path)
    data = load_dataset(residual_path.with_suffix(".npz"))
    trained.set_pixel_stats(data.x_train)
    return trained, data


def test_the_residual_example_is_a_trained_nested_residual_classifier(residual):
    trained, _ = residual
    desc = trained.desc
    assert desc.nested == ("residual_base",)
    assert [n for n in desc.names if desc.layer(n).is_merge] == [
        "residual_base/stage1_add",
        "residual_base/stage2_add",
    ]
    assert trained.meta["test_accuracy"] >= 0.95 and trained.meta["example"] == "residual"


def test_every_map_of_the_last_residual_stage_gets_an_oip_above_the_best_test_image(residual):
    trained, data = residual
    node = "residual_base/stage2_add"
    assert trained.desc.layer(node).has_pre  # the ReLU after the merge
    best = ActivationModel(trained).layer(trained.standardize(data.x_test), node)
    best = best.mean(axis=(1, 2)).max(axis=0)
    engine = engine_for(trained, node)
    result = engine.run([MapMean(node, u) for u in range(len(best))], [0], AscentOptions())
    assert (result.activations > best).mean() >= 0.95


def test_gradcam_on_a_convolution_inside_the_nested_base_gives_a_map(residual):
    trained, data = residual
    x = trained.standardize(data.x_test[:4])
    proba = ActivationModel(trained).predict_proba(x)
    heat = attribute(trained, x, "gradcam", proba.argmax(1), layer="residual_base/stage2_conv1")
    assert heat.shape == (4, 32, 32) and (heat >= 0).all()
    assert (heat.reshape(4, -1).max(axis=1) > 0).all()  # each picture gets a non-empty map
