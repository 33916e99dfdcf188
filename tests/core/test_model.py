"""The seed CNN: architecture, training, save/load."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnn_core.data.sources import MnistData
from cnn_core.explain.compare import confusion_matrix
from cnn_core.model.seed import (
    SEED_PARAMETER_COUNT,
    TrainConfig,
    build_seed_cnn,
    save_trained,
    train,
)
from cnn_core.model.trained import ModelLoadError, ModelNotFoundError, load_trained

SEED_LAYERS = (
    "Conv2D_1",
    "Max_Pool_1",
    "Conv2D_2",
    "Max_Pool_2",
    "Conv2D_3",
    "Flatten",
    "Dense_1",
    "Dense_2",
)


def small_data(data: MnistData, n_train: int = 600, n_test: int = 200) -> MnistData:
    return MnistData(
        data.x_train[:n_train],
        data.y_train[:n_train],
        data.x_test[:n_test],
        data.y_test[:n_test],
        source="first digits of the embedded subset",
        fingerprint="small",
    )


def test_seed_cnn_has_208982_parameters_and_named_layers():
    model = build_seed_cnn()
    assert model.count_params() == SEED_PARAMETER_COUNT == 208_982
    assert tuple(layer.name for layer in model.layers[1:]) == SEED_LAYERS
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers[1:]]
    assert shapes == [
        (26, 26, 32),
        (13, 13, 32),
        (11, 11, 64),
        (5, 5, 64),
        (3, 3, 128),
        (1152,),
        (100,),
        (10,),
    ]


def test_l2_penalises_every_kernel():
    model = build_seed_cnn(l2=1e-3)
    penalised = [layer.name for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    assert penalised == ["Conv2D_1", "Conv2D_2", "Conv2D_3", "Dense_1", "Dense_2"]


def test_short_training_lowers_the_loss_and_is_reproducible(data):
    subset = small_data(data)
    cfg = TrainConfig(epochs=2, batch_size=64, seed=7)
    first = train(subset, cfg)
    history = first.meta["history"]
    assert history["loss"][1] < history["loss"][0] < np.log(10) + 0.5
    assert first.meta["test_accuracy"] > 0.5  # chance is 0.1
    again = train(subset, cfg)
    for w1, w2 in zip(first.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_allclose(w1, w2, atol=1e-5)


def test_training_metadata_is_complete(data):
    meta = train(small_data(data, 200, 50), TrainConfig(epochs=1)).meta
    for key in (
        "test_accuracy",
        "history",
        "confusion_matrix",
        "normalization",
        "data",
        "config",
        "seconds",
        "parameters",
    ):
        assert key in meta
    assert np.asarray(meta["confusion_matrix"]).sum() == 50
    assert meta["data"]["fingerprint"] == "small"
    assert meta["normalization"]["mean"] == pytest.approx(float(data.x_train[:200].mean()))


def test_default_model_reaches_97_percent(trained, data):
    """The shipped training recipe on the embedded subset: >= 97% on its 1,000 test digits."""
    assert trained.meta["test_accuracy"] >= 0.97
    assert trained.meta["parameters"] == 208_982
    probs = np.asarray(trained.model(trained.standardize(data.x_test), training=False))
    assert (probs.argmax(1) == data.y_test).mean() == pytest.approx(trained.meta["test_accuracy"])


def test_standardize_uses_training_statistics(trained):
    x = trained.standardize(np.full((2, 28, 28), trained.mean, dtype=np.float32))
    assert x.shape == (2, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x, 0, atol=1e-5)
    np.testing.assert_allclose(trained.unstandardize(x), trained.mean, rtol=1e-5)


def test_save_and_load_round_trip(tmp_path, data):
    subset = small_data(data, 200, 50)
    model = train(subset, TrainConfig(epochs=1))
    path = save_trained(model, tmp_path / "m.keras")
    loaded = load_trained(path)
    x = loaded.standardize(subset.x_test[:5])
    np.testing.assert_allclose(loaded.model(x), model.model(x), atol=1e-6)
    assert (
        json.loads((tmp_path / "m.json").read_text())["test_accuracy"]
        == model.meta["test_accuracy"]
    )
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_missing_model_names_the_training_command(tmp_path):
    with pytest.raises(ModelNotFoundError, match="cnn-lens train"):
        load_trained(tmp_path / "cnn.keras")


def test_broken_model_file_is_a_clear_error(tmp_path, trained):
    path = tmp_path / "cnn.keras"
    path.write_bytes(b"not a keras archive")
    (tmp_path / "cnn.json").write_text(json.dumps(trained.meta))
    with pytest.raises(ModelLoadError, match="cannot load model.*retrain"):
        load_trained(path)


def test_broken_metadata_is_a_clear_error(tmp_path, trained):
    path = tmp_path / "cnn.keras"
    trained.model.save(path)
    (tmp_path / "cnn.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="cnn.json: broken sidecar"):
        load_trained(path)


def test_a_model_that_gives_no_class_scores_is_refused_in_one_line(tmp_path, trained):
    path = tmp_path / "cnn.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(name="f")]).save(path)
    with pytest.raises(ModelLoadError, match=r"ends with 'f' \(Flatten\).*class scores") as err:
        load_trained(path)
    assert "\n" not in str(err.value)


def test_a_model_without_sidecar_loads_with_numbered_classes_and_raw_pixels(tmp_path, trained):
    path = tmp_path / "bare.keras"
    trained.model.save(path)
    loaded = load_trained(path)
    assert loaded.meta == {} and loaded.desc.class_names == tuple("0123456789")
    assert loaded.normalization.is_identity
    pixels = np.full((1, 28, 28), 200, np.uint8)
    np.testing.assert_array_equal(loaded.standardize(pixels), np.full((1, 28, 28, 1), 200.0))


def test_confusion_matrix_counts():
    cm = confusion_matrix(np.array([0, 0, 1, 9]), np.array([0, 1, 1, 4]))
    assert cm[0, 0] == 1 and cm[0, 1] == 1 and cm[1, 1] == 1 and cm[9, 4] == 1 and cm.sum() == 4


def test_bad_training_config_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError):
        TrainConfig(epochs=0)
