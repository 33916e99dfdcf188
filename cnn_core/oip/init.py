"""Starting images for gradient ascent: long-range correlated noise, or per-pixel noise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnn_core import config
from cnn_core.oip.objectives import OipError
from cnn_core.oip.transforms import standardize_each

INITS: tuple[str, ...] = ("long_range", "pixel")


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
    seed: int, wavelength: float = 8.0, octaves: int = 3, size: int = config.IMAGE_SIZE
) -> np.ndarray:
    """Smooth random image: several scales of value noise mixed, longest strongest.

    Octave `k` is a random grid with spacing `wavelength / 2**k` pixels, bilinearly interpolated
    (random phase), weighted `2**-k`. Neighbouring pixels are correlated over about
    `wavelength` pixels, which deep maps need to respond at all (article VII).

    Args:
        seed: random seed; the same seed gives the same image.
        wavelength: the longest scale in pixels (>= 1).
        octaves: how many scales, each half the previous, none shorter than 1 px.
        size: image side.

    Returns:
        `(size, size)` float32, mean 0, std 1 (standardized like the model's input).
    """
    if not wavelength >= 1.0:
        raise OipError(f"wavelength must be >= 1 px, got {wavelength}")
    if octaves < 1:
        raise OipError(f"octaves must be >= 1, got {octaves}")
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size))
    for k in range(octaves):
        spacing = wavelength / 2**k
        if spacing < 1.0:
            break
        nodes = int(np.ceil(size / spacing)) + 2
        rows = _interpolation_matrix(size, nodes, rng.uniform(0, spacing), spacing)
        cols = _interpolation_matrix(size, nodes, rng.uniform(0, spacing), spacing)
        grid = rng.standard_normal((nodes, nodes))
        image += 2.0**-k * (rows @ grid @ cols.T)
    return standardize_each(image[None].astype(np.float32))[0]


def pixel_noise(seed: int, size: int = config.IMAGE_SIZE) -> np.ndarray:
    """Independent N(0, 1) noise per pixel (Chollet's start), `(size, size)` float32, std 1."""
    rng = np.random.default_rng(seed)
    return standardize_each(rng.standard_normal((1, size, size)).astype(np.float32))[0]


def starting_images(
    seeds: Sequence[int], init: str = "long_range", wavelength: float = 8.0, octaves: int = 3
) -> np.ndarray:
    """One starting image per seed.

    Args:
        seeds: one integer seed per image; equal seeds give equal images.
        init: "long_range" (`long_range_noise`) or "pixel" (`pixel_noise`).
        wavelength: longest scale of long-range noise, px.
        octaves: scales mixed in long-range noise.

    Returns:
        `(len(seeds), 28, 28)` float32, each image mean 0 and std 1.
    """
    if init not in INITS:
        raise OipError(f"unknown init {init!r}; use {' or '.join(INITS)}")
    if init == "pixel":
        images = [pixel_noise(int(s)) for s in seeds]
    else:
        images = [long_range_noise(int(s), wavelength, octaves) for s in seeds]
    if not images:
        return np.zeros((0, config.IMAGE_SIZE, config.IMAGE_SIZE), np.float32)
    return np.stack(images)
