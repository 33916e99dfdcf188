"""Image transforms of the ascent loop: per-image standardization, blur, jitter, penalties.

The `tf_*` functions run inside the engine's traced graph; every one works per image, so an
image's result never depends on the other images of the batch.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

#: Half-width of the Gaussian blur kernel; a sigma up to ~3 px fits in it (wider is truncated).
BLUR_RADIUS = 6
_EPS = 1e-8


def standardize_each(images: np.ndarray) -> np.ndarray:
    """Per-image standardization (mean 0, std 1), as the seed re-standardizes after each step.

    Args:
        images: `(N, H, W)` or `(N, H, W, 1)` float.

    Returns:
        Same shape, float32. A constant image becomes all zeros.
    """
    x = np.asarray(images, dtype=np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return ((x - mean) / (std + np.float32(_EPS))).astype(np.float32)


def tf_standardize_each(x: tf.Tensor) -> tf.Tensor:
    """`(N, H, W, C)` float32 -> per-image mean 0, std 1 (over all pixels and channels)."""
    mean, var = tf.nn.moments(x, axes=[1, 2, 3], keepdims=True)
    return (x - mean) / (tf.sqrt(var) + _EPS)


def _reflect_taps(size: int, radius: int) -> np.ndarray:
    """`(2 * radius + 1, size, size)` float32 one-hots: tap `k` of output `i` reads input `j`.

    Borders reflect without repeating the edge pixel (`tf.pad(..., "REFLECT")`, `np.pad(...,
    mode="reflect")`): index -1 reads 1, index `size` reads `size - 2`.
    """
    taps = np.zeros((2 * radius + 1, size, size), np.float32)
    for k in range(-radius, radius + 1):
        for i in range(size):
            j = abs(i + k)
            if j > size - 1:
                j = 2 * (size - 1) - j
            taps[k + radius, i, j] = 1.0
    return taps


def tf_gaussian_blur(x: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    """Separable Gaussian blur with reflected borders; suppresses high spatial frequencies.

    Done as two small matrix products per image and channel (`B_h @ x @ B_w.T`, built from
    `sigma` in the graph): a 1-channel convolution is slow on CPU, a 28 x 28 matrix product is
    not.

    Args:
        x: `(N, H, W, C)` float32 with static H and W (H, W >= 2).
        sigma: scalar float32 px (> 0; the kernel is truncated at `BLUR_RADIUS` px).

    Returns:
        `(N, H, W, C)` float32.
    """
    height, width = x.shape[1] or 28, x.shape[2] or 28
    offsets = tf.range(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(offsets / tf.maximum(sigma, 1e-3)))
    kernel = kernel / tf.reduce_sum(kernel)
    rows = tf.tensordot(kernel, tf.constant(_reflect_taps(height, BLUR_RADIUS)), axes=1)
    cols = tf.tensordot(kernel, tf.constant(_reflect_taps(width, BLUR_RADIUS)), axes=1)
    return tf.einsum("ij,njkc,lk->nilc", rows, x, cols)


def tf_roll_each(x: tf.Tensor, dy: tf.Tensor, dx: tf.Tensor) -> tf.Tensor:
    """Roll each image by its own offset (circular), the jitter of Lucid's transforms.

    Args:
        x: `(N, H, W, C)` float32.
        dy, dx: `(N,)` int32 offsets in pixels.

    Returns:
        `(N, H, W, C)` float32; gradients flow back through the gather to the unrolled image.
    """
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    rows = tf.math.floormod(tf.range(height)[None, :] - dy[:, None], height)
    cols = tf.math.floormod(tf.range(width)[None, :] - dx[:, None], width)
    x = tf.gather(x, rows, axis=1, batch_dims=1)
    return tf.gather(x, cols, axis=2, batch_dims=1)


def tf_total_variation(x: tf.Tensor) -> tf.Tensor:
    """`(N,)` mean absolute difference between neighbouring pixels of each `(N, H, W, C)` image."""
    dy = tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]), axis=[1, 2, 3])
    dx = tf.reduce_mean(tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=[1, 2, 3])
    return dy + dx
