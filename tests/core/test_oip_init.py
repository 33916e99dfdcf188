"""Starting images: seeded, standardized; long-range noise is smooth, pixel noise is not."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.oip import OipError, long_range_noise, pixel_noise, starting_images


def neighbour_correlation(image: np.ndarray) -> float:
    return float(np.corrcoef(image[:, :-1].ravel(), image[:, 1:].ravel())[0, 1])


@pytest.mark.parametrize("init", ["long_range", "pixel"])
def test_starting_images_are_standardized_and_seeded(init):
    images = starting_images([3, 4, 3], init)
    assert images.shape == (3, 28, 28) and images.dtype == np.float32
    np.testing.assert_allclose(images.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(images.std(axis=(1, 2)), 1, atol=1e-4)
    np.testing.assert_array_equal(images[0], images[2])
    assert not np.allclose(images[0], images[1])


def test_long_range_noise_is_correlated_over_neighbours_and_pixel_noise_is_not():
    smooth = [neighbour_correlation(long_range_noise(s, wavelength=8)) for s in range(5)]
    rough = [neighbour_correlation(pixel_noise(s)) for s in range(5)]
    assert min(smooth) > 0.7
    assert max(abs(c) for c in rough) < 0.15


def test_a_longer_wavelength_gives_smoother_noise():
    short = np.mean([neighbour_correlation(long_range_noise(s, 3, octaves=1)) for s in range(5)])
    long = np.mean([neighbour_correlation(long_range_noise(s, 14, octaves=1)) for s in range(5)])
    assert long > short


def test_bad_init_and_wavelength_raise_oip_error():
    with pytest.raises(OipError, match="init"):
        starting_images([0], "fourier")
    with pytest.raises(OipError, match="wavelength"):
        long_range_noise(0, wavelength=0.5)
