"""Starting images for gradient ascent: long-range correlated noise, or per-pixel noise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnn_core.oip.objectives import OipError
from cnn_core.oip.options import INITS
from cnn_core.oip.transforms import standardize_each


def _interpolation_matrix(size: int, nodes: int, offset: float, spacing: float) -> np.ndarray:
    """`(size, nodes)` float64 linear-interpolation weights from a coarse grid to `size` pixels."""
    pos = (np.arange(size) + offset) / spacing  # pixel centre in grid units
    left = np.clip(np.floor(pos).astype(int), 0, nodes - 2)
    frac = np.clip(pos - left, 0.0, 1.0)
    weights = np.zeros((size, nodes))
    weights[np.arange(size), left] = 1.0 - frac
    weights[np.arange(size), left + 1] = frac
    return weights


def long_range_noise(
    seed: int,
    wavelength: float = 8.0,
    octaves: int = 3,
    size: int | tuple[int, int] = 28,
    channels: int = 1,
) -> np.ndarray:
    """Smooth random image: several scales of value noise mixed, longest strongest.

    Octave `k` is a random grid with spacing `wavelength / 2**k` pixels, bilinearly interpolated
    (random phase), weighted `2**-k`. Neighbouring pixels are correlated over about
    `wavelength` pixels, which deep maps need to respond at all (article VII).

    Args:
        seed: random seed; the same seed gives the same image.
        wavelength: the longest scale in pixels (>= 1).
        octaves: how many scales, each half the previous, none shorter than 1 px.
        size: image side, or `(height, width)`.
        channels: independent noise images stacked on a last axis (only when > 1).

    Returns:
        `(H, W)` float32 for one channel, `(H, W, C)` for more; mean 0, std 1 over the
        whole image. A channel's noise comes after the previous channel's from the same random
        stream, so channel 0 is the one-channel image of the same seed (before standardizing).
    """
    if not wavelength >= 1.0:
        raise OipError(f"wavelength must be >= 1 px, got {wavelength}")
    if octaves < 1:
        raise OipError(f"octaves must be >= 1, got {octaves}")
    height, width = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    planes = []
    for _ in range(channels):
        image = np.zeros((height, width))
        for k in range(octaves):
            spacing = wavelength / 2**k
            if spacing < 1.0:
                break
            nodes_y = int(np.ceil(height / spacing)) + 2
            nodes_x = int(np.ceil(width / spacing)) + 2
            rows = _interpolation_matrix(height, nodes_y, rng.uniform(0, spacing), spacing)
            cols = _interpolation_matrix(width, nodes_x, rng.uniform(0, spacing), spacing)
            grid = rng.standard_normal((nodes_y, nodes_x))
            image += 2.0**-k * (rows @ grid @ cols.T)
        planes.append(image)
    stack = np.stack(planes, axis=-1) if channels > 1 else planes[0]
    return standardize_each(stack[None].astype(np.float32))[0]


def pixel_noise(seed: int, size: int | tuple[int, int] = 28, channels: int = 1) -> np.ndarray:
    """Independent N(0, 1) noise per pixel (Chollet's start): `(H, W)` float32 for one channel,
    `(H, W, C)` for more; std 1."""
    height, width = (size, size) if isinstance(size, int) else size
    shape = (1, height, width) if channels == 1 else (1, height, width, channels)
    rng = np.random.default_rng(seed)
    return standardize_each(rng.standard_normal(shape).astype(np.float32))[0]


def starting_images(
    seeds: Sequence[int],
    init: str = "long_range",
    wavelength: float = 8.0,
    octaves: int = 3,
    shape: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """One starting image per seed.

    Args:
        seeds: one integer seed per image; equal seeds give equal images.
        init: "long_range" (`long_range_noise`) or "pixel" (`pixel_noise`).
        wavelength: longest scale of long-range noise, px.
        octaves: scales mixed in long-range noise.
        shape: `(H, W, C)` of the images; default `None`: `(28, 28)` images without a channel
            axis (the seed's).

    Returns:
        `(len(seeds), 28, 28)` float32 without `shape`, else `(len(seeds), H, W, C)`; each
        image mean 0 and std 1.
    """
    if init not in INITS:
        raise OipError(f"unknown init {init!r}; use {' or '.join(INITS)}")
    height, width, channels = shape or (28, 28, 1)
    size = (height, width)
    wavelength = min(wavelength, float(max(height, width)))
    if init == "pixel":
        images = [pixel_noise(int(s), size, channels) for s in seeds]
    else:
        images = [long_range_noise(int(s), wavelength, octaves, size, channels) for s in seeds]
    out = np.stack(images) if images else np.zeros((0, height, width), np.float32)
    if shape is not None and channels == 1:
        out = out[..., None]
    return out.astype(np.float32)
