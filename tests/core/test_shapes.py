"""The colour example: generated coloured shapes, their CNN, its training command and files."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

from cnn_core import config
from cnn_core.data.sources import load_dataset, save_dataset
from cnn_core.shapes import (
    CLASS_NAMES,
    SHAPE_CLASSES,
    build_shapes_cnn,
    predict_classes,
    shape_coverage,
    shapes_dataset,
    shapes_files,
)
from cnn_core.train import main

SIDECAR_KEYS = {
    "format",
    "class_names",
    "data",
    "test_accuracy",
    "train_accuracy",
    "history",
    "confusion_matrix",
    "parameters",
    "seconds",
    "created",
}


def label_of(name: str) -> int:
    return CLASS_NAMES.index(name)


def bright_pixels_mean(image: np.ndarray) -> np.ndarray:
    """Mean RGB of the pixels with a channel above 150: the shape (background + noise < 100)."""
    pixels = image.reshape(-1, 3).astype(np.float64)
    return pixels[pixels.max(axis=1) > 150].mean(axis=0)


def test_same_seed_gives_same_images_and_another_seed_differs():
    first = shapes_dataset(seed=1, train_per_class=10, test_per_class=5)
    again = shapes_dataset(seed=1, train_per_class=10, test_per_class=5)
    other = shapes_dataset(seed=2, train_per_class=10, test_per_class=5)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert not np.array_equal(first.x_train, other.x_train)


def test_test_split_does_not_depend_on_the_train_size():
    small = shapes_dataset(seed=3, train_per_class=4, test_per_class=6)
    large = shapes_dataset(seed=3, train_per_class=9, test_per_class=6)
    np.testing.assert_array_equal(small.x_test, large.x_test)
    np.testing.assert_array_equal(small.y_test, large.y_test)


def test_default_dataset_is_32x32_rgb_uint8_balanced_and_interleaved():
    data = shapes_dataset()
    k = len(SHAPE_CLASSES)
    assert data.x_train.shape == (config.SHAPES_TRAIN_PER_CLASS * k, 32, 32, 3)
    assert data.x_test.shape == (config.SHAPES_TEST_PER_CLASS * k, 32, 32, 3)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert np.bincount(data.y_train).tolist() == [config.SHAPES_TRAIN_PER_CLASS] * k
    assert np.bincount(data.y_test).tolist() == [config.SHAPES_TEST_PER_CLASS] * k
    assert len(set(data.y_test[:20].tolist())) > 3
    assert data.image_shape == (32, 32, 3) and data.channels == 3
    assert data.num_classes == k and data.class_names == CLASS_NAMES
    assert data.pixel_range == (0.0, 255.0)


def test_classes_share_colours_and_shapes_so_neither_alone_separates_them():
    colours = [c.colour for c in SHAPE_CLASSES]
    kinds = [c.kind for c in SHAPE_CLASSES]
    assert len(set(zip(colours, kinds, strict=True))) == len(SHAPE_CLASSES)
    assert len(set(colours)) < len(SHAPE_CLASSES) and len(set(kinds)) < len(SHAPE_CLASSES)
    assert {"red disc", "green square", "blue triangle"} <= set(CLASS_NAMES)


@pytest.mark.parametrize(
    ("name", "on"),
    [
        ("red disc", (0,)),
        ("red square", (0,)),
        ("green square", (1,)),
        ("blue triangle", (2,)),
        ("blue disc", (2,)),
        ("yellow cross", (0, 1)),
    ],
)
def test_shapes_are_drawn_in_their_class_colour(name, on):
    data = shapes_dataset(seed=4, train_per_class=1, test_per_class=30)
    off = [c for c in range(3) if c not in on]
    for image in data.x_test[data.y_test == label_of(name)]:
        mean = bright_pixels_mean(image)
        assert (mean[list(on)] > 170).all() and (mean[off] < 80).all(), mean


def test_background_is_dark_and_noisy():
    data = shapes_dataset(seed=5, train_per_class=20, test_per_class=1)
    corners = data.x_train[:, :2, :2].reshape(len(data.x_train), -1).astype(np.float64)
    dark = corners.max(axis=1) < 100  # a shape may reach a corner now and then
    assert dark.mean() > 0.9
    assert corners[dark].std(axis=1).mean() > 3  # noise, not a flat colour


def test_shapes_vary_in_position_and_size():
    data = shapes_dataset(seed=6, train_per_class=1, test_per_class=50)
    masks = data.x_test.max(axis=3) > 150
    areas = masks.sum(axis=(1, 2))
    rows, cols = np.indices((32, 32))
    cy = (masks * rows).sum(axis=(1, 2)) / areas
    cx = (masks * cols).sum(axis=(1, 2)) / areas
    assert cx.std() > 3 and cy.std() > 3
    assert areas.max() > 2 * areas.min()


@pytest.mark.parametrize(
    ("kind", "area_per_r2", "perimeter_per_r"),
    [
        ("disc", math.pi, 2 * math.pi),
        ("square", 1.7**2, 4 * 1.7),
        ("triangle", 3 * math.sqrt(3) / 4 * 1.3**2, 3 * math.sqrt(3) * 1.3),
        ("cross", 20 / 9, 8.0),
    ],
)
@pytest.mark.parametrize("angle", [0.0, 0.7])
def test_shape_coverage_has_the_geometric_area_at_any_rotation(
    kind, area_per_r2, perimeter_per_r, angle
):
    r = 8.0
    coverage = shape_coverage(
        kind, np.array([16.0]), np.array([16.0]), np.array([r]), np.array([angle])
    )
    assert coverage.shape == (1, 32, 32)
    assert coverage.min() >= 0 and coverage.max() <= 1
    # 2x2 samples per pixel: an edge can be off by up to a quarter pixel along its length
    tolerance = perimeter_per_r * r / 4
    assert coverage.sum() == pytest.approx(area_per_r2 * r**2, abs=tolerance)


def test_unknown_shape_kind_is_an_error():
    with pytest.raises(ValueError, match="hexagon"):
        shape_coverage("hexagon", np.array([16.0]), np.array([16.0]), np.array([8.0]), np.zeros(1))


def test_npz_round_trip_through_load_dataset(tmp_path):
    data = shapes_dataset(seed=7, train_per_class=5, test_per_class=3)
    loaded = load_dataset(save_dataset(data, tmp_path / "shapes.npz"))
    np.testing.assert_array_equal(loaded.x_train, data.x_train)
    np.testing.assert_array_equal(loaded.y_test, data.y_test)
    assert loaded.class_names == CLASS_NAMES
    assert loaded.fingerprint == data.fingerprint
    assert loaded.image_shape == (32, 32, 3)


def test_shapes_cnn_rescales_raw_pixels_and_has_same_padding_bn_gap_softmax():
    model = build_shapes_cnn()
    assert tuple(model.input.shape) == (None, 32, 32, 3)
    first = model.layers[1]
    assert isinstance(first, keras.layers.Rescaling) and first.scale == pytest.approx(1 / 255)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(conv.padding == "same" for conv in convs)
    assert any(conv.strides != (1, 1) for conv in convs)
    kinds = {type(layer) for layer in model.layers}
    assert {
        keras.layers.BatchNormalization,
        keras.layers.ReLU,
        keras.layers.Activation,
        keras.layers.GlobalAveragePooling2D,
        keras.layers.MaxPooling2D,
    } <= kinds
    output = model.layers[-1]
    assert output.units == len(SHAPE_CLASSES) and output.activation.__name__ == "softmax"


def test_shipped_sidecar_describes_model_and_data_without_normalization(shapes_path):
    meta = json.loads(shapes_files(shapes_path)[2].read_text())
    assert set(meta) >= SIDECAR_KEYS
    assert "normalization" not in meta  # the model rescales raw pixels itself
    assert meta["format"] == 1 and meta["class_names"] == list(CLASS_NAMES)
    n_test = config.SHAPES_TEST_PER_CLASS * len(SHAPE_CLASSES)
    assert meta["data"]["n_test"] == n_test and meta["data"]["file"] == "shapes.npz"
    cm = np.array(meta["confusion_matrix"])
    assert cm.shape == (6, 6) and cm.sum() == n_test
    assert np.trace(cm) / n_test == pytest.approx(meta["test_accuracy"])
    history = meta["history"]
    epochs = meta["config"]["epochs"]
    assert history["epoch"] == list(range(1, epochs + 1))
    assert all(len(history[key]) == epochs for key in ("loss", "accuracy", "test_loss"))
    assert meta["parameters"] == build_shapes_cnn().count_params()


def test_shipped_data_is_the_generated_dataset(shapes_path, shapes_data):
    meta = json.loads(shapes_files(shapes_path)[2].read_text())
    assert shapes_data.fingerprint == meta["data"]["fingerprint"]
    assert shapes_data.fingerprint == shapes_dataset().fingerprint
    assert shapes_data.class_names == CLASS_NAMES


def test_trained_model_is_at_least_95_percent_right_on_its_test_split(
    shapes_model, shapes_data, shapes_path
):
    predicted = predict_classes(shapes_model, shapes_data.x_test)
    accuracy = float((predicted == shapes_data.y_test).mean())
    assert accuracy >= 0.95
    meta = json.loads(shapes_files(shapes_path)[2].read_text())
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1 / len(predicted))


@pytest.mark.parametrize(
    ("name", "order", "becomes"),
    [
        ("red disc", [2, 1, 0], "blue disc"),
        ("blue disc", [2, 1, 0], "red disc"),
        ("red square", [1, 0, 2], "green square"),
        ("green square", [1, 0, 2], "red square"),
    ],
)
def test_trained_model_follows_colour_when_channels_are_swapped(
    shapes_model, shapes_data, name, order, becomes
):
    images = shapes_data.x_test[shapes_data.y_test == label_of(name)][..., order]
    predicted = predict_classes(shapes_model, images)
    assert (predicted == label_of(becomes)).mean() >= 0.9


def test_train_command_rejects_seed_only_options(capsys):
    assert main(["--example", "shapes", "--l2", "0.1", "--data", "x.npz"]) == 2
    assert "--data, --l2" in capsys.readouterr().err


@pytest.mark.slow
def test_train_command_writes_model_data_and_sidecar(tmp_path):
    out = tmp_path / "colour.keras"
    assert main(["--example", "shapes", "--epochs", "1", "--out", str(out)]) == 0
    model_path, data_path, meta_path = shapes_files(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "colour.json",
        "colour.keras",
        "colour.npz",
    ]  # no temporary files left behind
    meta = json.loads(meta_path.read_text())
    assert set(meta) >= SIDECAR_KEYS and "normalization" not in meta
    assert meta["data"]["file"] == "colour.npz" and meta["history"]["epoch"] == [1]
    model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    data = load_dataset(data_path)
    assert data.fingerprint == meta["data"]["fingerprint"]
    assert model(data.x_test[:2].astype(np.float32)).shape == (2, len(SHAPE_CLASSES))
