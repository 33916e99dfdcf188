"""Parameterizations of the ascent's images: raw pixels, Lucid's scaled Fourier spectrum, MACO.

The engine optimizes a flat `(N, P)` float32 parameter tensor whatever the parameterization, so
one traced graph serves all three (`P` depends on the parameterization and the image shape):

- "pixel": the image itself, `P = H * W * C`, in the data's standardized pixel space.
- "fourier" (Olah et al., Distill 2017; Lucid's `param/spatial.py` and `param/color.py`): the real
  and imaginary parts of each channel's `rfft2d` spectrum, scaled by 1/f (`rfft2d_freqs`, decay
  power 1), transformed back with `tf.signal.irfft2d`, colours decorrelated with Lucid's fixed
  3x3 matrix for 3-channel models, squashed into the data's pixel range by a sigmoid (centred
  on the data's mean pixel, `_squash`).
  `P = 2 * C * H * (W // 2 + 1)`.
- "maco" (Fel et al., NeurIPS 2023): only the phase of the spectrum is optimized; its magnitude
  is fixed to the mean amplitude spectrum of the model's own training images
  (`mean_amplitude_spectrum`). The image is standardized, colours recorrelated (3 channels), and
  squashed into the pixel range by a sigmoid. `P = C * H * (W // 2 + 1)`.

Every decoder works per image (no statistic crosses images), so an image's result never depends
on the rest of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from cnn_core.oip.objectives import OipError
from cnn_core.oip.options import PARAMETERIZATIONS, check_parameterization  # noqa: F401 (re-exported)

#: Lucid's `color_correlation_svd_sqrt`: the square root of ImageNet's RGB colour covariance.
COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32
)
#: Lucid's normalization: the matrix divided by its largest column norm.
COLOR_CORRELATION = (
    COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
).astype(np.float32)

#: Lucid's initial spectrum spread (`fft_image(sd=0.01)`) and its final division by 4.
FOURIER_INIT_STD = 0.01
_FOURIER_DIVISOR = 4.0
_EPS = 1e-5


def rfft2d_freqs(height: int, width: int) -> np.ndarray:
    """`(H, W // 2 + 1)` float64 radial frequency (cycles per pixel) of each `rfft2d` bin."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def fourier_scale(height: int, width: int, decay_power: float = 1.0) -> np.ndarray:
    """Lucid's spectrum scale: `1 / max(f, 1 / max(H, W)) ** decay_power * sqrt(H * W)`,
    `(H, W // 2 + 1)` float32."""
    freqs = rfft2d_freqs(height, width)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay_power
    return (scale * np.sqrt(height * width)).astype(np.float32)


def spectrum_shape(image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """`(C, H, W // 2 + 1)`: the channels-first shape of an image's `rfft2d` spectrum."""
    height, width, channels = image_shape
    return channels, height, width // 2 + 1


def parameter_size(kind: str, image_shape: tuple[int, int, int]) -> int:
    """Number of parameters per image `P` of a parameterization."""
    check_parameterization(kind)
    if kind == "pixel":
        return int(np.prod(image_shape))
    bins = int(np.prod(spectrum_shape(image_shape)))
    return 2 * bins if kind == "fourier" else bins


def initial_parameters(
    kind: str, seeds: Sequence[int], image_shape: tuple[int, int, int]
) -> np.ndarray:
    """Seeded starting parameters of the spectral parameterizations (the pixel start comes from
    `cnn_core.oip.init.starting_images`).

    "fourier": N(0, 0.01) real and imaginary parts (Lucid's `fft_image`); "maco": N(0, 1) phases
    (Xplique's `init_maco_buffer`). Equal seeds give equal parameters.

    Returns:
        `(len(seeds), P)` float32.
    """
    size = parameter_size(kind, image_shape)
    std = FOURIER_INIT_STD if kind == "fourier" else 1.0
    rows = [
        (std * np.random.default_rng([int(s), 7]).standard_normal(size)).astype(np.float32)
        for s in seeds
    ]
    return np.stack(rows) if rows else np.zeros((0, size), np.float32)


def mean_amplitude_spectrum(images: np.ndarray) -> np.ndarray:
    """The mean `|rfft2d|` of images, per channel, in the decorrelated colour space MACO's
    images are drawn in (Lucid's colour matrix inverted for 3 channels). The mean (DC) bin is
    kept: its phase (0 or π) is then how MACO chooses each channel's mean, the image's colour.

    Args:
        images: `(N, H, W)` or `(N, H, W, C)` pixel values (uint8 or float), `N >= 1`.

    Returns:
        `(C, H, W // 2 + 1)` float32.

    Raises:
        OipError: no images or a bad shape.
    """
    x = np.asarray(images, np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or not len(x):
        raise OipError(f"need (N, H, W[, C]) images for a spectrum, got shape {x.shape}")
    if x.shape[-1] == 3:
        x = x @ np.linalg.inv(COLOR_CORRELATION).T.astype(np.float32)
    total = np.zeros(spectrum_shape(x.shape[1:]), np.float64)
    for start in range(0, len(x), 256):  # bounded memory for large data sets
        chunk = np.moveaxis(x[start : start + 256], -1, 1)
        total += np.abs(np.fft.rfft2(chunk)).sum(axis=0)
    return (total / len(x)).astype(np.float32)


def default_magnitude(image_shape: tuple[int, int, int]) -> np.ndarray:
    """A 1/f amplitude spectrum, `(C, H, W // 2 + 1)` float32: MACO's magnitude for an engine
    that has not been given training images (natural images' spectra fall off about as 1/f)."""
    channels, height, _ = spectrum_shape(image_shape)
    scale = fourier_scale(height, image_shape[1])
    scale[0, 0] = 0.0  # the mean is set by the standardization
    return np.repeat(scale[None], channels, axis=0).astype(np.float32)


def _squash(t: tf.Tensor, y_low: float, y_high: float) -> tf.Tensor:
    """A sigmoid onto `[y_low, y_high]` (the data's pixel range in the ascent's standardized
    space) that maps 0 to 0 with slope 1: a small image keeps the data's mean pixel and its
    contrast, and none leaves the range. (Lucid's plain sigmoid centres every image on the
    range's middle: mid-grey, where the shapes' and digits' backgrounds are dark.)"""
    width = y_high - y_low
    middle = min(max(-y_low / width, 1e-3), 1 - 1e-3)  # where the data's mean lies in the range
    offset = float(np.log(middle / (1 - middle)))
    slope = 1.0 / (width * middle * (1 - middle))
    return y_low + width * tf.sigmoid(slope * t + offset)


def _recorrelate(t: tf.Tensor) -> tf.Tensor:
    """`(N, H, W, 3)`: Lucid's `_linear_decorelate_color` (the matrix applied to each pixel)."""
    return tf.einsum("nhwc,dc->nhwd", t, tf.constant(COLOR_CORRELATION))


def tf_fourier_image(
    params: tf.Tensor,
    image_shape: tuple[int, int, int],
    scale: tf.Tensor,
    y_low: float,
    y_high: float,
) -> tf.Tensor:
    """Lucid's Fourier image from flat parameters.

    Args:
        params: `(N, 2 * C * H * (W // 2 + 1))` float32: real then imaginary parts.
        image_shape: `(H, W, C)`.
        scale: `(H, W // 2 + 1)` float32 `fourier_scale`.
        y_low, y_high: the data's pixel range in the ascent's standardized space.

    Returns:
        `(N, H, W, C)` float32 inside `[y_low, y_high]`.
    """
    height, width, channels = image_shape
    spec = tf.reshape(params, [-1, 2, channels, height, width // 2 + 1])
    spectrum = tf.complex(spec[:, 0] * scale, spec[:, 1] * scale)
    image = tf.signal.irfft2d(spectrum, fft_length=[height, width])  # (N, C, H, W)
    image = tf.transpose(image, [0, 2, 3, 1]) / _FOURIER_DIVISOR
    if channels == 3:
        image = _recorrelate(image)
    return _squash(image, y_low, y_high)


def tf_maco_image(
    params: tf.Tensor,
    image_shape: tuple[int, int, int],
    magnitude: tf.Tensor,
    y_low: float,
    y_high: float,
) -> tf.Tensor:
    """MACO's image from flat phases (Xplique's `maco_image_parametrization`, per image).

    Args:
        params: `(N, C * H * (W // 2 + 1))` float32 phases.
        image_shape: `(H, W, C)`.
        magnitude: `(C, H, W // 2 + 1)` float32 fixed amplitude spectrum.
        y_low, y_high: the data's pixel range in the ascent's standardized space.

    Returns:
        `(N, H, W, C)` float32 inside `[y_low, y_high]`.
    """
    height, width, channels = image_shape
    phase = tf.reshape(params, [-1, channels, height, width // 2 + 1])
    mean, var = tf.nn.moments(phase, axes=[1, 2, 3], keepdims=True)
    phase = (phase - mean) / (tf.sqrt(var) + _EPS)
    spectrum = tf.complex(tf.cos(phase) * magnitude, tf.sin(phase) * magnitude)
    image = tf.transpose(tf.signal.irfft2d(spectrum, fft_length=[height, width]), [0, 2, 3, 1])
    mean, var = tf.nn.moments(image, axes=[1, 2, 3], keepdims=True)
    image = (image - mean) / (tf.sqrt(var) + _EPS)
    if channels == 3:
        image = _recorrelate(image)
    return _squash(image, y_low, y_high)
