"""Uploaded pictures of handwritten digits turned into MNIST-style 28 x 28 digits.

MNIST's digits were made like this (LeCun et al.): ink bright on a dark background, the digit
cropped to its bounding box, scaled (anti-aliased) so that the longer side is 20 pixels, and
pasted into a 28 x 28 field so that its centre of mass sits at the centre. `to_mnist` does the
same for any photo or drawing, after turning it gray and inverting a light background.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Limits for an uploaded file: bytes and pixels per side.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_SIDE_PX = 4096
#: Larger pictures are box-reduced to at most this many pixels a side right after decoding: the
#: digit ends up 20 px tall, and the rest of the work on 16 M pixels took over a second.
WORK_SIDE_PX = 1024
#: The file formats read (Pillow knows dozens; each is attack surface, none of the rest is needed).
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
#: MNIST geometry.
FIELD = 28
BOX = 20
#: Ink must reach this share of the full 0-255 range above the background to count as a digit.
MIN_CONTRAST = 0.1
#: Pixels above this share of the brightest ink define the bounding box (ignores faint noise).
INK_THRESHOLD = 0.2


class UploadError(ValueError):
    """An uploaded file that cannot become a digit; the message says why, for the user."""


class NotAnImageError(UploadError):
    """The bytes are not a PNG/JPEG (or other Pillow-readable) image."""


class ImageTooLargeError(UploadError):
    """More than `MAX_UPLOAD_BYTES` bytes or more than `MAX_SIDE_PX` pixels on a side."""


class NoInkError(UploadError):
    """A blank (or nearly uniform) picture: nothing that could be a digit."""


def decode_data_url(contents: str, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The bytes of a `data:<type>;base64,<data>` URL (what `dcc.Upload` delivers).

    The size is checked from the base64 length before decoding, so a huge upload is refused
    without being decoded.

    Raises:
        ImageTooLargeError: the file is larger than `max_bytes`.
        NotAnImageError: not a base64 data URL.
    """
    if not isinstance(contents, str) or not contents.startswith("data:") or "," not in contents:
        raise NotAnImageError("the upload is not a file (expected a base64 data URL)")
    header, payload = contents.split(",", 1)
    if ";base64" not in header:
        raise NotAnImageError("the upload is not base64-encoded")
    approx = len(payload) * 3 // 4
    if approx > max_bytes + 3:
        raise ImageTooLargeError(
            f"the file has {approx / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB"
        )
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NotAnImageError("the upload is not valid base64") from exc
    if len(raw) > max_bytes:
        raise ImageTooLargeError(
            f"the file has {len(raw) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB"
        )
    return raw


def _too_large(width: int | str, height: int | str, max_side: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"the image is {width}x{height} pixels; the limit is {max_side}x{max_side}"
    )


def load_grayscale(
    raw: bytes, max_side: int = MAX_SIDE_PX, work_side: int = WORK_SIDE_PX
) -> np.ndarray:
    """Decode an image file into gray values, transparent parts as white paper.

    The pixel size is read from the header and checked before the pixels are decoded; a
    decompression bomb (a small file that claims a huge picture) gets the same size message.
    Pictures larger than `work_side` are reduced right after decoding (JPEG: while decoding).

    Args:
        raw: the file's bytes (PNG, JPEG, GIF, BMP or WebP).
        max_side: the largest width or height accepted.
        work_side: the largest side kept after decoding (box-reduced by an integer factor).

    Returns:
        `(H, W)` uint8 gray values, 0 = black.

    Raises:
        NotAnImageError: not one of those formats, or damaged.
        ImageTooLargeError: wider or taller than `max_side` pixels.
    """
    return np.asarray(open_picture(raw, max_side, work_side).convert("L"), dtype=np.uint8)


def open_picture(
    raw: bytes, max_side: int = MAX_SIDE_PX, work_side: int = WORK_SIDE_PX
) -> Image.Image:
    """Decode an image file (checked as `load_grayscale` says) into an upright Pillow image,
    transparent parts on white paper (any mode Pillow gives, e.g. "L", "RGB", "P")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=FORMATS)
            width, height = image.size
            if width > max_side or height > max_side:
                raise _too_large(width, height, max_side)
            factor = math.ceil(max(width, height) / work_side)
            if factor > 1 and image.format == "JPEG":
                image.draft(image.mode, (width // factor, height // factor))  # DCT scaling
            image.load()
    except ImageTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(  # Pillow refuses it from the header: a decompression bomb
            f"the image claims more pixels than {max_side}x{max_side}, the limit"
        ) from None
    except UnidentifiedImageError:
        raise NotAnImageError(
            f"the file is not an image this page reads ({', '.join(FORMATS)})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImageError(f"the image file is damaged ({exc})") from None
    image = _reduced(image, work_side)
    image = ImageOps.exif_transpose(image)  # phone photos: upright as shown
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return image


def picture_from_upload(contents: str, shape: tuple[int, int, int]) -> np.ndarray:
    """An uploaded picture as the input of a model that is not MNIST-style, made as an image
    folder's pictures are (`cnn_core.data.folders.fit_image`: centre crop to the model's aspect
    ratio, bilinear resize, its channels).

    Args:
        contents: the `data:image/...;base64,...` URL `dcc.Upload` delivers.
        shape: the model's input `(H, W, C)`, C 1 or 3.

    Returns:
        `(H, W)` uint8 for one channel, `(H, W, 3)` uint8 for three.

    Raises:
        UploadError: not an image, damaged, too large (bytes or pixels).
    """
    from cnn_core.data.folders import fit_image

    return fit_image(open_picture(decode_data_url(contents)), tuple(int(v) for v in shape))


def _reduced(image: Image.Image, work_side: int) -> Image.Image:
    """`image` box-reduced by the smallest integer factor that fits `work_side` (alpha-aware)."""
    factor = math.ceil(max(image.size) / work_side)
    if factor <= 1:
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # premultiplied: transparent pixels must not bleed their (arbitrary) colour into the ink
        return image.convert("RGBa").reduce(factor).convert("RGBA")
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return image.reduce(factor)


def ink_image(gray: np.ndarray) -> np.ndarray:
    """Gray values as ink intensity: bright ink on a 0 background, like MNIST.

    A light background (the median of the border pixels above mid-gray) is inverted; the
    background level is then subtracted and the result stretched so the brightest ink is 255.

    Args:
        gray: `(H, W)` uint8, 0 = black.

    Returns:
        `(H, W)` float64 in `[0, 255]`.

    Raises:
        NoInkError: no ink stands out from the background.
    """
    x = np.asarray(gray, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise NoInkError(f"expected a 2-D gray image, got shape {x.shape}")
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    if np.median(border) > 127:
        x = 255.0 - x
        border = 255.0 - border
    x = np.clip(x - np.median(border), 0.0, None)
    peak = x.max()
    if peak < MIN_CONTRAST * 255:
        raise NoInkError("no digit found: the picture is (nearly) one uniform colour")
    return x * (255.0 / peak)


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """`(row, col)` centre of mass of a non-negative `(H, W)` array, in pixel-index units."""
    x = np.asarray(image, dtype=np.float64)
    total = x.sum()
    if total <= 0:
        return (x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2
    rows, cols = np.indices(x.shape)
    return float((rows * x).sum() / total), float((cols * x).sum() / total)


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """An MNIST-style digit from a gray picture of a handwritten digit.

    Steps: ink bright on black (`ink_image`); crop to the bounding box of the ink; scale with
    anti-aliasing so the longer side is 20 pixels, keeping the aspect ratio; paste into a
    28 x 28 black field so that the centre of mass is at the centre (13.5, 13.5), within half
    a pixel, as far as the field allows.

    Args:
        gray: `(H, W)` uint8 gray values, any background.

    Returns:
        `(28, 28)` uint8, 0 = background, 255 = ink.

    Raises:
        NoInkError: nothing that could be a digit.
    """
    ink = ink_image(gray)
    mask = ink > INK_THRESHOLD * 255
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    piece = Image.fromarray(np.rint(crop).astype(np.uint8)).resize(
        (new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    small = np.asarray(piece, dtype=np.float64)
    com_r, com_c = center_of_mass(small)
    centre = (FIELD - 1) / 2
    top = int(np.clip(math.floor(centre - com_r + 0.5), 0, FIELD - new_h))
    left = int(np.clip(math.floor(centre - com_c + 0.5), 0, FIELD - new_w))
    field = np.zeros((FIELD, FIELD), dtype=np.uint8)
    field[top : top + new_h, left : left + new_w] = np.clip(np.rint(small), 0, 255)
    return field


#: Below this ink contrast (fraction of 0-255 between background and the strongest ink) a
#: conversion is called doubtful: shadows or paper texture may have been taken for ink.
DOUBTFUL_CONTRAST = 0.35
#: Above this share of border pixels being ink, the digit may be cut off or the background busy.
DOUBTFUL_BORDER_INK = 0.03


def conversion_doubts(gray: np.ndarray) -> list[str]:
    """Why the MNIST-style conversion of a picture may not show what was meant (photos).

    Args:
        gray: `(H, W)` uint8 gray values, as `to_mnist` takes them.

    Returns:
        Plain sentences, empty when nothing looks doubtful: low ink contrast, ink touching the
        picture's edge.
    """
    x = np.asarray(gray, dtype=np.float64)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    if np.median(border) > 127:
        x, border = 255.0 - x, 255.0 - border
    ink = np.clip(x - np.median(border), 0.0, None)
    contrast = ink.max() / 255.0
    doubts = []
    if contrast < DOUBTFUL_CONTRAST:
        doubts.append(
            f"the ink hardly stands out from the background ({contrast:.0%} contrast): "
            "shadows or paper texture may have been taken for ink"
        )
    if ink.max() > 0:
        mask = ink > INK_THRESHOLD * ink.max()
        edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
        if edge.mean() > DOUBTFUL_BORDER_INK:
            doubts.append(
                "ink touches the picture's edge: the digit may be cut off, or the background "
                "is not plain; crop the photo around the digit"
            )
    return doubts


def digit_from_upload(contents: str) -> np.ndarray:
    """`dcc.Upload` contents (a base64 data URL) to an MNIST-style `(28, 28)` uint8 digit.

    Raises:
        UploadError: (a subclass saying why) too large, not an image, or no digit in it.
    """
    return to_mnist(load_grayscale(decode_data_url(contents)))


def digit_and_doubts_from_upload(contents: str) -> tuple[np.ndarray, list[str]]:
    """`digit_from_upload` and the `conversion_doubts` of the same picture."""
    gray = load_grayscale(decode_data_url(contents))
    return to_mnist(gray), conversion_doubts(gray)


def digit_from_list(value: object) -> np.ndarray:
    """Validate a digit that travelled through the browser as nested lists.

    Args:
        value: 28 lists of 28 integers in 0..255 (e.g. from a `dcc.Store`).

    Returns:
        `(28, 28)` uint8.

    Raises:
        UploadError: anything else.
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise UploadError("the stored digit is malformed") from exc
    if arr.shape != (FIELD, FIELD) or arr.dtype.kind not in "iu":
        raise UploadError(f"the stored digit must be 28x28 integers, got {arr.shape} {arr.dtype}")
    if arr.min() < 0 or arr.max() > 255:
        raise UploadError("the stored digit has values outside 0..255")
    return arr.astype(np.uint8)
