"""Pictures as PNG data URIs for `html.Img` (digits, OIPs, galleries): one helper for all pages."""

from __future__ import annotations

import base64

import numpy as np

from cnn_core import imaging


def data_uri(png: bytes) -> str:
    """PNG bytes as a `data:image/png;base64,...` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_src(rgb: np.ndarray, fast: bool = False) -> str:
    """An `(H, W, 3)` uint8 picture as a PNG data URI (`fast`: light compression, live frames)."""
    return data_uri(imaging.png_bytes(rgb, fast=fast))


def digit_src(image: np.ndarray, scale: int = 3, colormap: str = "gray") -> str:
    """A dataset image (`(H, W)` grey or `(H, W, 3)` colour uint8), enlarged `scale` times."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        rgb = image.astype(np.uint8).repeat(scale, axis=0).repeat(scale, axis=1)
        return png_src(rgb)
    if image.ndim == 3:
        image = image[..., 0]
    return data_uri(imaging.digit_png(image, colormap, scale=scale))
