"""The trust check of OIPs on the trained colour example, and what it says about bad images."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.model.trained import load_trained
from cnn_core.oip import AscentOptions, MapMean, OipEngine, OipError
from cnn_core.oip.trust import earlier_map_node, high_frequency_share, trust_report


@pytest.fixture(scope="module")
def colour(shapes_path, shapes_data) -> OipEngine:
    trained = load_trained(shapes_path)
    trained.set_pixel_stats(shapes_data.x_train)
    return OipEngine(trained, spectrum_images=shapes_data.x_train[:500])


@pytest.fixture(scope="module")
def fourier_result(colour):
    objectives = [MapMean("conv3", u) for u in (3, 9, 27, 40)]
    options = AscentOptions(steps=40, parameterization="fourier", transforms="standard")
    return colour.run(objectives, [0], options)


def test_report_has_one_value_per_oip_and_a_badge(colour, fourier_result, shapes_data):
    report = trust_report(colour, fourier_result, shapes_data.x_test[:300], draws=8)
    for name in ("activation", "best_data", "ratio", "robustness", "high_frequency", "path_top"):
        assert getattr(report, name).shape == (4,), name
    np.testing.assert_allclose(report.activation, fourier_result.activations, rtol=1e-4)
    np.testing.assert_array_equal(report.beats, report.ratio > 1)
    assert np.all(np.isfinite(report.ratio)) and np.all(report.best_data > 0)
    assert report.path_node == ["conv2"] * 4 and np.all(report.checked == 4)
    assert 0 < report.data_high_frequency < 0.2  # shapes on a noisy dark background
    for beats, summary in zip(report.beats, report.summaries, strict=True):
        assert summary.startswith("beats the best image" if beats else "below the best image")
    assert all(s.count(" · ") == 3 for s in report.summaries)


def test_pure_noise_is_flagged_unnatural_and_weaker_than_real_images(colour, shapes_data):
    noise = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    objectives = [MapMean("conv3", u) for u in (3, 9, 27)]
    report = trust_report(colour, noise, shapes_data.x_test[:300], objectives=objectives, draws=8)
    assert not report.natural.any()
    assert np.all(report.high_frequency > 0.7)  # white noise: ~80% above half the Nyquist
    assert all("high-frequency noise" in s for s in report.summaries)


def test_fourier_with_transforms_is_more_robust_and_smoother_than_pixel_ascent(
    colour, fourier_result, shapes_data
):
    objectives = fourier_result.objectives
    pixel = colour.run(objectives, [0], AscentOptions(steps=40, valid_pixels=True, blur_every=0))
    data = shapes_data.x_test[:300]
    smooth = trust_report(colour, fourier_result, data, draws=8)
    rough = trust_report(colour, pixel, data, draws=8)
    assert np.median(smooth.robustness) > np.median(rough.robustness)
    assert np.median(smooth.high_frequency) < np.median(rough.high_frequency)


def test_without_data_strength_and_path_are_not_checked(colour, fourier_result):
    report = trust_report(colour, fourier_result, None, draws=4)
    assert np.all(np.isnan(report.ratio)) and np.all(report.checked == 2)
    assert report.data_high_frequency > 0  # against 1/f noise
    assert all(" · " in s and "best image" not in s for s in report.summaries)


def test_diverse_runs_get_a_report_per_image(colour, shapes_data):
    options = AscentOptions(steps=5, parameterization="fourier", images_per_unit=2, diversity=5.0)
    result = colour.run([MapMean("conv3", 1)], [0], options)
    report = trust_report(colour, result, shapes_data.x_test[:100], draws=4)
    assert report.ratio.shape == (1, 2) and len(report.summaries) == 2


def test_high_frequency_share_of_flat_smooth_and_noisy_images():
    flat = np.full((1, 16, 16), 7.0)
    y, x = np.mgrid[:16, :16]
    smooth = np.sin(2 * np.pi * x / 16)[None]
    checker = ((x + y) % 2)[None].astype(float)
    shares = high_frequency_share(np.concatenate([flat, smooth, checker]))
    np.testing.assert_allclose(shares, [0.0, 0.0, 1.0], atol=1e-6)


def test_path_node_skips_pooling_and_first_layer_has_none(colour):
    assert earlier_map_node(colour, "conv3") == "conv2"
    assert earlier_map_node(colour, "conv2") == "conv1"  # pool1 is conv1's maps subsampled
    assert earlier_map_node(colour, "conv1") is None


def test_images_without_objectives_are_refused(colour):
    with pytest.raises(OipError, match="objectives"):
        trust_report(colour, np.zeros((1, 32, 32, 3), np.float32))


def test_the_data_side_is_computed_once_per_data_array_and_gives_the_same_report(
    colour, fourier_result, shapes_data
):
    from cnn_core.oip import trust

    data = shapes_data.x_test[:300].copy()
    first = trust_report(colour, fourier_result, data, draws=8)
    assert trust._DATA_SIDES[colour][0].data is data  # kept for the next job
    again = trust_report(colour, fourier_result, data, draws=8)  # from the cache
    fresh = trust_report(colour, fourier_result, data.copy(), draws=8)  # another array
    assert trust._DATA_SIDES[colour][0].data is not data  # the newest first, two kept
    assert len(trust._DATA_SIDES[colour]) <= trust._DATA_KEPT
    for name in ("best_data", "ratio", "path_top", "path_random", "high_frequency"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name), name)
        np.testing.assert_array_equal(getattr(fresh, name), getattr(first, name), name)
    assert again.data_high_frequency == fresh.data_high_frequency == first.data_high_frequency
