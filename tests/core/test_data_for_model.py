"""Which data a model is shown with, whether it fits, and which pair compare opens with."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnn_core.data.sources import DataError, check_fits, load_for_model, save_dataset
from cnn_core.explain.compare import comparison_pair, most_confused_pair


def test_the_sidecar_names_the_models_own_data(shapes_path, monkeypatch):
    monkeypatch.delenv("CNN_LENS_DATA", raising=False)
    sidecar = json.loads(shapes_path.with_suffix(".json").read_text())
    data = load_for_model(None, shapes_path, sidecar)
    assert data.image_shape == (32, 32, 3) and data.class_names[0] == "red disc"


def test_without_a_named_file_mnist_is_shown(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_LENS_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no Keras cache: the embedded subset
    data = load_for_model(None, tmp_path / "m.keras", {})
    assert data.image_shape == (28, 28, 1) and len(data.x_test) == 1000


def test_an_explicit_npz_wins_over_the_sidecar(shapes_path, shapes_data, tmp_path):
    small = tmp_path / "small.npz"
    subset = type(shapes_data)(
        shapes_data.x_train[:12], shapes_data.y_train[:12], shapes_data.x_test[:6],
        shapes_data.y_test[:6], "subset", "x", shapes_data.class_names,
    )  # fmt: skip
    save_dataset(subset, small)
    sidecar = json.loads(shapes_path.with_suffix(".json").read_text())
    assert len(load_for_model(str(small), shapes_path, sidecar).x_test) == 6


def test_data_that_does_not_fit_the_model_is_one_clear_line(shapes_data):
    with pytest.raises(DataError, match=r"images are \(32, 32, 3\).*model takes \(28, 28, 1\)"):
        check_fits(shapes_data, (28, 28, 1), 10)
    with pytest.raises(DataError, match="label 5 but the model has 3 classes"):
        check_fits(shapes_data, (32, 32, 3), 3)
    check_fits(shapes_data, (32, 32, 3), 6)


def test_most_confused_pair_adds_both_directions_and_breaks_ties_low():
    cm = np.diag([50, 50, 50, 50])
    cm[1, 3], cm[3, 1] = 2, 2  # 4 in all
    cm[0, 2] = 3  # 3
    assert most_confused_pair(cm) == (1, 3)
    assert most_confused_pair(np.diag([5, 5, 5])) == (0, 1)


def test_comparison_pair_prefers_the_sidecar_then_the_articles_pair_for_the_seed():
    cm = np.diag([10] * 10)
    cm[7, 9] = 3
    assert comparison_pair({"compare_pair": [2, 5]}, "anything", cm) == (2, 5)
    assert comparison_pair({}, "seed_cnn", cm) == (4, 9)
    assert comparison_pair({}, "my_model", cm) == (7, 9)
    assert comparison_pair({"compare_pair": [3, 3]}, "my_model", cm) == (7, 9)  # invalid: ignored


def test_a_model_mnist_does_not_fit_and_nothing_named_is_shown_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_LENS_DATA", raising=False)
    data = load_for_model(None, tmp_path / "m.keras", {}, (96, 96, 3), num_classes=5)
    assert not data.has_images and data.source == "no data set"
    assert data.image_shape == (96, 96, 3) and data.class_names == ("0", "1", "2", "3", "4")
    assert data.images("test").shape == (0, 96, 96, 3) and data.labels("train").shape == (0,)
    check_fits(data, (96, 96, 3), 5)  # fits its model
    # a 28x28 grey model with 10 classes still gets MNIST, as the seed without its sidecar
    assert load_for_model(None, tmp_path / "m.keras", {}, (28, 28, 1), num_classes=10).has_images


def test_an_upload_for_a_colour_model_is_centre_cropped_and_resized_like_a_folder():
    import base64
    import io

    from PIL import Image

    from cnn_core.data.drawing import decode_pixels, encode_pixels, max_code_chars
    from cnn_core.data.preprocess import UploadError, picture_from_upload

    picture = Image.new("RGB", (300, 200), (0, 0, 255))  # blue borders left and right
    picture.paste((255, 0, 0), (50, 0, 250, 200))  # a red 200x200 square in the middle
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    pixels = picture_from_upload(url, (96, 96, 3))
    assert pixels.shape == (96, 96, 3) and pixels.dtype == np.uint8
    assert (pixels[..., 0] > 250).all() and (pixels[..., 2] < 5).all()  # only the red square
    assert picture_from_upload(url, (32, 32, 1)).shape == (32, 32)
    with pytest.raises(UploadError):
        picture_from_upload("data:image/png;base64,bm90IGFuIGltYWdl", (96, 96, 3))
    # a photo barely compresses: its code must still fit the limit for its input size
    noise = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    code = encode_pixels(noise)
    assert len(code) <= max_code_chars((224, 224, 3))
    np.testing.assert_array_equal(decode_pixels(code, (224, 224, 3)), noise)
