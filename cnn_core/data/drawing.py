"""Digits drawn in the browser: the picture turned into model input, and kept short in a URL.

A drawing arrives as a small PNG of the canvas. For a 28 x 28 grey model it goes through the
MNIST pipeline of `cnn_core.data.preprocess` (ink cropped, scaled to 20 px, centre of mass centred),
like an upload; for any other input (a colour model, another size) it is only resized to the
model's input, because cropping and centring are MNIST's conventions, not every dataset's.

Model input travels in URLs as a code: `"z"` + URL-safe base64 (no padding) of the
zlib-compressed `(H, W, C)` uint8 pixels. Lossless, so a shared link shows the same digit and
the same prediction; about 400-600 characters for an MNIST digit.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
import zlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnn_core.data.preprocess import (
    FIELD,
    ImageTooLargeError,
    NotAnImageError,
    UploadError,
    decode_data_url,
    load_grayscale,
    to_mnist,
)

#: A drawing's PNG: at most this many bytes and pixels a side (the page sends ~100-300 px).
MAX_DRAWING_BYTES = 512 * 1024
MAX_DRAWING_SIDE = 1024
#: The longest pixel code accepted (a 32x32 colour picture of noise needs about 4,100).
MAX_CODE_CHARS = 16_384
CODE_VERSION = "z"


class DrawingError(UploadError):
    """A drawing or pixel code that cannot become model input; the message says why."""


def mnist_style(shape: tuple[int, int, int]) -> bool:
    """Whether drawings for a model of input `shape` (H, W, C) go through the MNIST pipeline."""
    return tuple(shape) == (FIELD, FIELD, 1)


def drawing_to_pixels(
    contents: str, shape: tuple[int, int, int], background: tuple[int, ...] = (0,)
) -> np.ndarray:
    """A drawn picture (a PNG data URL from the canvas) as the pixels the model takes.

    Args:
        contents: `data:image/png;base64,...`, at most `MAX_DRAWING_BYTES` bytes and
            `MAX_DRAWING_SIDE` pixels a side.
        shape: the model's input `(H, W, C)`, C 1 or 3.
        background: the paper's colour (one grey or three RGB values 0-255): transparent
            parts of the picture become this.

    Returns:
        `(H, W)` uint8 for one channel, `(H, W, 3)` uint8 for three. 28 x 28 grey: MNIST style
        (ink bright on black, cropped, 20 px, centred); otherwise the picture resized.

    Raises:
        DrawingError: not an image, too large, empty (MNIST style), or a shape not 1 or 3
            channels.
    """
    h, w, c = (int(v) for v in shape)
    if c not in (1, 3):
        raise DrawingError(f"drawing needs a model with 1 or 3 channels, this one has {c}")
    try:
        raw = decode_data_url(contents, max_bytes=MAX_DRAWING_BYTES)
        if mnist_style(shape):
            gray = load_grayscale(raw, max_side=MAX_DRAWING_SIDE)
            return to_mnist(gray)
        picture = _load_rgb(raw, background)
    except DrawingError:
        raise
    except UploadError as err:
        raise DrawingError(str(err)) from None
    resized = picture.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(resized, dtype=np.uint8)
    return pixels if c == 3 else np.asarray(resized.convert("L"), dtype=np.uint8)


def _load_rgb(raw: bytes, background: tuple[int, ...]) -> Image.Image:
    """The PNG's pixels as RGB, transparent parts painted `background`."""
    paper = tuple(int(v) for v in (background * 3 if len(background) == 1 else background))[:3]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=("PNG",))
            if max(image.size) > MAX_DRAWING_SIDE:
                width, height = image.size
                raise ImageTooLargeError(
                    f"the drawing is {width}x{height} pixels; the limit is "
                    f"{MAX_DRAWING_SIDE}x{MAX_DRAWING_SIDE}"
                )
            image.load()
    except ImageTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError("the drawing claims too many pixels") from None
    except UnidentifiedImageError:
        raise NotAnImageError("the drawing is not a PNG") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImageError(f"the drawing's PNG is damaged ({exc})") from None
    rgba = image.convert("RGBA")
    under = Image.new("RGBA", rgba.size, (*paper, 255))
    return Image.alpha_composite(under, rgba).convert("RGB")


def encode_pixels(pixels: np.ndarray) -> str:
    """Model-input pixels as a short URL-safe code (lossless; see the module docstring).

    Args:
        pixels: `(H, W)` or `(H, W, C)` uint8.
    """
    data = np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8)).tobytes()
    packed = base64.urlsafe_b64encode(zlib.compress(data, 9)).decode("ascii").rstrip("=")
    return CODE_VERSION + packed


def max_code_chars(shape: tuple[int, int, int]) -> int:
    """The longest code a picture of `shape` can have: `MAX_CODE_CHARS`, or for a large
    colour input the base64 length of its bytes after zlib's worst case (a photo barely
    compresses: 96x96x3 takes ~35,000 characters)."""
    size = int(np.prod([int(v) for v in shape]))
    worst = size + size // 1000 + 64  # zlib stored blocks: 5 bytes per 16 KB, plus headers
    return max(MAX_CODE_CHARS, len(CODE_VERSION) + 4 * -(-worst // 3))


def decode_pixels(code: object, shape: tuple[int, int, int]) -> np.ndarray:
    """The pixels of a code made by `encode_pixels`, for a model of input `shape` (H, W, C).

    Returns:
        `(H, W)` uint8 for one channel, `(H, W, C)` uint8 otherwise.

    Raises:
        DrawingError: not a text code, too long, not base64/zlib, or not `H * W * C` bytes
            (decompression stops one byte past that size: a zlib bomb is cut short).
    """
    h, w, c = (int(v) for v in shape)
    if not isinstance(code, str) or not code.startswith(CODE_VERSION):
        raise DrawingError("the drawn digit's code is missing or not a code")
    limit = max_code_chars(shape)
    if len(code) > limit:
        raise DrawingError(f"the drawn digit's code is longer than {limit:,} characters")
    body = code[len(CODE_VERSION) :]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        unpacker = zlib.decompressobj()
        data = unpacker.decompress(packed, h * w * c + 1)
    except (binascii.Error, ValueError, zlib.error):
        raise DrawingError("the drawn digit's code is damaged") from None
    if len(data) != h * w * c or unpacker.unconsumed_tail:
        raise DrawingError(f"the drawn digit's code is not a {h}x{w}x{c} picture for this model")
    pixels = np.frombuffer(data, dtype=np.uint8).reshape(h, w, c)
    return pixels[:, :, 0].copy() if c == 1 else pixels.copy()


def background_colour(images: np.ndarray) -> tuple[int, ...]:
    """The data's paper colour: the median of the images' border pixels.

    Args:
        images: `(N, H, W)` or `(N, H, W, C)` uint8.

    Returns:
        `(grey,)` or `(r, g, b)`, ints 0-255.
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    border = np.concatenate(
        [x[:, 0].reshape(-1, x.shape[-1]), x[:, -1].reshape(-1, x.shape[-1]),
         x[:, :, 0].reshape(-1, x.shape[-1]), x[:, :, -1].reshape(-1, x.shape[-1])]
    )  # fmt: skip
    return tuple(int(v) for v in np.median(border, axis=0))


def ink_colours(images: np.ndarray, count: int = 6) -> list[tuple[int, ...]]:
    """The data's most common ink colours (pixels far from the paper), for the pen's palette.

    Colours are counted on a 3-bit-per-channel grid, most frequent first, each reported as the
    mean of its pixels. Grey data gives the brightest-against-paper grey only.

    Args:
        images: `(N, H, W)` or `(N, H, W, C)` uint8.
        count: at most this many colours.

    Returns:
        `[(grey,)]` or up to `count` `(r, g, b)` tuples.
    """
    x = np.asarray(images)
    paper = np.asarray(background_colour(x), dtype=np.float64)
    if x.ndim == 3 or x.shape[-1] == 1:
        return [(0,) if paper[0] > 127 else (255,)]
    pixels = x[: min(len(x), 500)].reshape(-1, x.shape[-1]).astype(np.float64)
    far = pixels[np.linalg.norm(pixels - paper, axis=1) > 96]
    if len(far) == 0:
        return [tuple(int(255 - v) for v in paper)]
    bins = (far // 32).astype(np.int64)
    keys = bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2]
    values, counts = np.unique(keys, return_counts=True)
    colours: list[tuple[int, ...]] = []
    for key in values[np.argsort(-counts)]:
        colour = far[keys == key].mean(axis=0)
        if all(np.linalg.norm(colour - np.asarray(c)) > 80 for c in colours):  # distinct only
            colours.append(tuple(int(np.rint(v)) for v in colour))
        if len(colours) == count:
            break
    return colours
