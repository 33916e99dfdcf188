"""Known answers on the colour example that ships with the project (coloured shapes, 32x32x3)."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.model.trained import load_trained
from cnn_core.oip import optimize_maps

CHANNEL = {"red": 0, "green": 1, "blue": 2}


@pytest.fixture(scope="module")
def colour(shapes_path, shapes_data):
    trained = load_trained(shapes_path)
    trained.set_pixel_stats(shapes_data.x_train)
    return trained


def test_the_colour_model_is_described_from_its_own_layers(colour):
    desc = colour.desc
    assert desc.input_shape == (32, 32, 3) and desc.preprocessing == ("rescale",)
    assert desc.normalization.is_identity  # its sidecar has no normalization: raw pixels
    assert desc.class_names[:3] == ("red disc", "green square", "blue triangle")
    assert desc.layer("conv1").members == ("conv1", "bn1", "relu1")
    assert desc.layer("gap").kind == "nodes" and desc.logits_layer == "class"


@pytest.mark.parametrize("valid_pixels", [False, True], ids=["free", "valid-pixels"])
def test_class_logit_oips_are_predicted_as_their_class_and_wear_its_colour(colour, valid_pixels):
    desc = colour.desc
    result = optimize_maps(colour, desc.logits_layer, "all", seed=0, valid_pixels=valid_pixels)
    assert result.images.shape == (desc.num_classes, 32, 32, 3)
    np.testing.assert_array_equal(result.probabilities.argmax(axis=1), np.arange(desc.num_classes))
    pixels = colour.unstandardize(result.images)
    if valid_pixels:
        assert pixels.min() >= -1e-3 and pixels.max() <= 255 + 1e-3
    channel_means = pixels.mean(axis=(1, 2))
    for k, name in enumerate(desc.class_names):
        colour_word = name.split()[0]
        if colour_word in CHANNEL:
            assert channel_means[k].argmax() == CHANNEL[colour_word], (name, channel_means[k])


def test_class_objectives_get_a_flatter_spectrum_than_map_objectives(colour):
    from cnn_core.oip import default_options, method_options

    units, classes = default_options(colour.desc), default_options(colour.desc, classes=True)
    assert units.parameterization == classes.parameterization == "fourier"
    assert units.transforms == classes.transforms == "standard"
    assert (units.decay_power, classes.decay_power) == (3.0, 2.0)
    assert method_options("pixel", False, classes=True) == method_options("pixel", False)
