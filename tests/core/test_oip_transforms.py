"""Transforms of the ascent loop: blur suppresses high frequencies, jitter rolls each image."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from cnn_core.oip import pixel_noise
from cnn_core.oip.transforms import (
    standardize_each,
    tf_gaussian_blur,
    tf_roll_each,
    tf_standardize_each,
    tf_total_variation,
)


def batch(n: int = 3) -> tf.Tensor:
    return tf.constant(np.stack([pixel_noise(s) for s in range(n)])[..., None])


def test_blur_keeps_a_constant_image_and_smooths_more_with_a_wider_sigma():
    flat = tf.fill([1, 28, 28, 1], 2.5)
    np.testing.assert_allclose(tf_gaussian_blur(flat, tf.constant(1.0)).numpy(), 2.5, rtol=1e-5)
    x = batch()
    tv = [float(tf.reduce_mean(tf_total_variation(x)))]
    for sigma in (0.4, 1.0, 3.0):
        tv.append(
            float(tf.reduce_mean(tf_total_variation(tf_gaussian_blur(x, tf.constant(sigma)))))
        )
    assert tv == sorted(tv, reverse=True) and tv[-1] < tv[0] / 4


def test_roll_each_moves_every_image_by_its_own_offset():
    x = batch()
    rolled = tf_roll_each(x, tf.constant([0, 1, -2]), tf.constant([3, 0, 1])).numpy()
    for i, (dy, dx) in enumerate([(0, 3), (1, 0), (-2, 1)]):
        np.testing.assert_array_equal(rolled[i], np.roll(x.numpy()[i], (dy, dx), axis=(0, 1)))


def test_standardize_each_works_per_image_in_numpy_and_tensorflow():
    x = batch().numpy() * np.array([1.0, 5.0, 0.1], np.float32)[:, None, None, None] + 3.0
    for out in (standardize_each(x), tf_standardize_each(tf.constant(x)).numpy()):
        np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-5)
        np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, atol=1e-4)


def test_blur_equals_a_reflect_padded_gaussian_convolution():
    x = batch(2).numpy()
    sigma, radius = 1.3, 6
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(x[..., 0], ((0, 0), (radius, radius), (radius, radius)), mode="reflect")
    rows = sum(taps[k] * padded[:, k : k + 28, :] for k in range(2 * radius + 1))
    expected = sum(taps[k] * rows[:, :, k : k + 28] for k in range(2 * radius + 1))
    blurred = tf_gaussian_blur(tf.constant(x), tf.constant(sigma)).numpy()[..., 0]
    np.testing.assert_allclose(blurred, expected, atol=1e-5)
