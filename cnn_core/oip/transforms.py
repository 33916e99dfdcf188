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


#: Lucid's standard transforms are sized for 128 px images (pad 12, jitter 8, then jitter 4);
#: here they scale with the image's longer side.
LUCID_SIDE = 128.0
LUCID_JITTER = 8.0 + 4.0
SCALE_RANGE = (0.9, 1.1)
ROTATE_DEGREES = 10.0


def standard_shift(side: int) -> float:
    """Largest shift in px of the standard transforms for an image of `side` px (Lucid's two
    jitters, 8 + 4 px at 128 px, in proportion; 1.5 px at 16 px)."""
    return LUCID_JITTER * side / LUCID_SIDE


def tf_random_affine(
    seeds: tf.Tensor, shift: float, scale_range=SCALE_RANGE, degrees: float = ROTATE_DEGREES
) -> tf.Tensor:
    """One random shift / scale / rotation per seed pair (stateless: equal seeds, equal draws).

    Args:
        seeds: `(N, 2)` int32 or int64 stateless seeds.
        shift: largest shift in px along each axis (uniform in `[-shift, shift]`).
        scale_range: `(low, high)` zoom factors, uniform.
        degrees: largest rotation, uniform in `[-degrees, degrees]`.

    Returns:
        `(N, 5)` float32: `(dy, dx, scale, angle in radians, 0)`.
    """
    unit = tf.map_fn(  # (N, 4) uniform in [0, 1): each row from its own seed pair
        lambda s: tf.random.stateless_uniform([4], s),
        tf.cast(seeds, tf.int64),
        fn_output_signature=tf.TensorSpec([4], tf.float32),
    )
    low, high = scale_range
    return tf.stack(
        [
            (2.0 * unit[:, 0] - 1.0) * shift,
            (2.0 * unit[:, 1] - 1.0) * shift,
            low + (high - low) * unit[:, 2],
            (2.0 * unit[:, 3] - 1.0) * (degrees * np.pi / 180.0),
            tf.zeros_like(unit[:, 0]),
        ],
        axis=1,
    )


def tf_affine_each(x: tf.Tensor, params: tf.Tensor, fill: float = 0.0) -> tf.Tensor:
    """Shift, zoom and rotate each image about its centre, bilinear, `fill` outside.

    Output pixel `p` reads the input at `c + R(-angle) (p - c - shift) / scale` (`c` the
    centre), so the content moves by `shift`, grows by `scale` and turns by `angle`. Built
    from gathers (exact gradients, traced once for any batch size; no tensorflow-addons).

    Args:
        x: `(N, H, W, C)` float32 with static H, W, C.
        params: `(N, 5)` or `(1, 5)` float32 from `tf_random_affine` (a single row applies
            to every image).
        fill: the value read outside the image.

    Returns:
        `(N, H, W, C)` float32.
    """
    if params.shape[0] == 1:  # one draw for the batch (every ascent step): a sparse product
        return _affine_shared(x, params, fill)
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    n = tf.shape(x)[0]
    ys, xs, weights, insides = _bilinear_taps(tf.broadcast_to(params, [n, 5]), height, width)
    flat = tf.reshape(x, [n, height * width, channels])
    flat = tf.concat([flat, tf.fill([n, 1, channels], tf.cast(fill, x.dtype))], axis=1)
    outside = height * width  # the index of the fill pixel
    out = tf.zeros([n, height, width, channels], x.dtype)
    for yi, xi, weight, inside in zip(ys, xs, weights, insides, strict=True):
        index = tf.where(inside, yi * width + xi, outside)
        values = tf.gather(flat, tf.reshape(index, [n, -1]), axis=1, batch_dims=1)
        out += tf.reshape(values, [n, height, width, channels]) * weight[..., None]
    return out


def _bilinear_taps(
    params: tf.Tensor, height: int, width: int
) -> tuple[list[tf.Tensor], list[tf.Tensor], list[tf.Tensor], list[tf.Tensor]]:
    """For `(N, 5)` (or `(1, 5)`) `params`: the four bilinear taps of every output pixel, as
    `(N, H, W)` source rows, columns, weights and whether the source is inside the image, four
    of each (`tf_affine_each`'s geometry)."""
    dy, dx, scale, angle = (params[:, k, None, None] for k in range(4))
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    rows, cols = tf.meshgrid(
        tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij"
    )
    u, v = rows[None] - cy - dy, cols[None] - cx - dx
    cos, sin = tf.cos(angle), tf.sin(angle)
    src_y = (cos * u + sin * v) / scale + cy
    src_x = (-sin * u + cos * v) / scale + cx
    y0, x0 = tf.floor(src_y), tf.floor(src_x)
    fy, fx = src_y - y0, src_x - x0
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    taps = ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
            (1, 0, fy * (1 - fx)), (1, 1, fy * fx))  # fmt: skip
    ys, xs = [y0 + oy for oy, _, _ in taps], [x0 + ox for _, ox, _ in taps]
    insides = [
        (yi >= 0) & (yi < height) & (xi >= 0) & (xi < width) for yi, xi in zip(ys, xs, strict=True)
    ]
    return ys, xs, [w for *_, w in taps], insides


def _affine_shared(x: tf.Tensor, params: tf.Tensor, fill: float) -> tf.Tensor:
    """`tf_affine_each` with one `(1, 5)` draw for every image: the move as one sparse
    `(H W, H W)` matrix of bilinear weights (4 a row) times the images as `(H W, N C)`, whose
    gradient is the transposed product. 4 MobileNetV2 inputs of 96x96x3, forward and backward:
    about half the time of the per-image gathers (their gradient is a scatter)."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    n, pixels = tf.shape(x)[0], height * width
    columns, values = [], []
    for yi, xi, weight, inside in zip(*_bilinear_taps(params, height, width), strict=True):
        columns.append(tf.reshape(tf.where(inside, yi * width + xi, 0), [-1]))
        values.append(tf.reshape(tf.where(inside, weight, 0.0), [-1]))
    matrix = tf.sparse.SparseTensor(
        tf.stack(
            [
                tf.repeat(tf.range(pixels, dtype=tf.int64), 4),
                tf.cast(tf.reshape(tf.stack(columns, axis=1), [-1]), tf.int64),
            ],
            axis=1,
        ),
        tf.reshape(tf.stack(values, axis=1), [-1]),
        [pixels, pixels],
    )
    flat = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [pixels, -1])  # (H W, N C)
    out = tf.sparse.sparse_dense_matmul(matrix, flat)
    if fill:  # what falls outside reads `fill`: add it with each output pixel's missing weight
        inside_weight = tf.sparse.reduce_sum(matrix, axis=1)
        out += tf.cast(fill, x.dtype) * (1.0 - inside_weight)[:, None]
    return tf.transpose(tf.reshape(out, [height, width, n, channels]), [2, 0, 1, 3])
