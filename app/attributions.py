"""The attribution page's computing: every method and its deletion check for one image, cached,
and the server-side PNG of the maps. No Dash: tested without a browser."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.services import get_services
from cnn_core import imaging
from cnn_core.explain.attribution import (
    DEFAULTS,
    METHODS,
    AttributionError,
    DeletionCurves,
    attribute,
    attributor_for,
    check_options,
    deletion_curves,
)

#: What each method is called on the page, and what it shows, in one plain line.
LABELS: dict[str, str] = {
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "gradcam": "Grad-CAM",
    "occlusion": "Occlusion",
}
EXPLANATIONS: dict[str, str] = {
    "saliency": "how much a tiny change of each pixel would move the score (the gradient's size).",
    "smoothgrad": "saliency averaged over noisy copies of the image: less speckle.",
    "integrated_gradients": "each pixel's share of the score, summing the gradient along the way "
    "from a black (or blurred) image to this one; the shares add up to the score's change.",
    "gradcam": "where a convolution layer's maps push the score up, scaled to the image: "
    "coarse but robust.",
    "occlusion": "how much the score drops when a small square around the pixel is painted black.",
}
DELETION_EXPLANATION = (
    "Deletion check: the pixels are set to black, the map's most important first, while the "
    "class probability is followed; lower area = the map found the pixels the decision depends "
    "on. The grey dashed line deletes in a random order, for reference."
)
#: Signed maps (the others are >= 0): the page draws their positive part, the evidence for.
SIGNED = ("integrated_gradients", "occlusion")
CACHE_SIZE = 64


@dataclass(frozen=True)
class MethodOptions:
    """The page's options of the methods (the core's defaults; `layer` None = the last map
    layer). Checked by `cnn_core.explain.attribution.check_options` when used."""

    steps: int = DEFAULTS["integrated_gradients"]["steps"]
    baseline: str = DEFAULTS["integrated_gradients"]["baseline"]
    samples: int = DEFAULTS["smoothgrad"]["samples"]
    noise: float = DEFAULTS["smoothgrad"]["noise"]
    layer: str | None = None
    window: int = DEFAULTS["occlusion"]["window"]
    stride: int = DEFAULTS["occlusion"]["stride"]

    def for_method(self, method: str) -> dict[str, Any]:
        """The keyword options `attribute` takes for `method`."""
        return {
            "saliency": {},
            "smoothgrad": {"samples": self.samples, "noise": self.noise},
            "integrated_gradients": {"steps": self.steps, "baseline": self.baseline},
            "gradcam": {"layer": self.layer},
            "occlusion": {"window": self.window, "stride": self.stride},
        }[method]

    def check(self) -> MethodOptions:
        """Self, if the model accepts every option (else `AttributionError` naming it)."""
        for method in methods():
            check_options(method, get_services().desc, **self.for_method(method))
        return self


@dataclass(frozen=True)
class Explanation:
    """Every method's map of one image and its deletion check.

    Attributes:
        methods: the methods, in page order (Grad-CAM only when the model has map layers).
        maps: `(M, H, W)` float32, one map per method (signed for IG and occlusion).
        curves: the deletion curves, one per method (`curves[m]`), of `target`'s probability.
        proba: `(classes,)` float32 softmax of the model's logits for the image.
        target: the class explained.
        contrast: the class it is explained against ("why target rather than contrast"), or None.
    """

    methods: tuple[str, ...]
    maps: np.ndarray
    curves: DeletionCurves
    proba: np.ndarray
    target: int
    contrast: int | None

    @property
    def predicted(self) -> int:
        return int(self.proba.argmax())


def methods() -> tuple[str, ...]:
    """The methods the loaded model allows (Grad-CAM needs a map layer)."""
    has_maps = bool(get_services().desc.map_layers)
    return tuple(m for m in METHODS if m != "gradcam" or has_maps)


def check_class(value: object, what: str) -> int | None:
    """A class of the loaded model or None (not given), else `AttributionError`."""
    if value is None or value == "":
        return None
    n = get_services().desc.num_classes
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AttributionError(f"{what} {value!r} is not a class")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and len(text) < 6) or not int(text) < n:
        raise AttributionError(f"{what} {value!r} is not a class of this model (0-{n - 1})")
    return int(text)


_cache: OrderedDict[tuple, Explanation] = OrderedDict()
_cache_lock = threading.Lock()


def explain(
    x: np.ndarray, target: int | None, contrast: int | None, options: MethodOptions
) -> Explanation:
    """All methods' maps of `x` and their deletion curves (the last `CACHE_SIZE` are kept).

    Args:
        x: `(1, H, W, C)` float32 model input.
        target: the class to explain; None: the model's prediction.
        contrast: explain `logit target − logit contrast` instead ("why target rather than
            contrast"); None: the target's logit alone.
        options: the methods' options.

    Raises:
        AttributionError: a bad class, a contrast equal to the target, a bad option.
    """
    services = get_services()
    trained = services.trained
    x = np.ascontiguousarray(x, dtype=np.float32)
    key = (hashlib.sha1(x.tobytes()).hexdigest(), x.shape, target, contrast, options)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    proba = attributor_for(trained).probabilities(x)[0]
    klass = int(proba.argmax()) if target is None else target
    if contrast is not None and contrast == klass:
        raise AttributionError(
            f"the contrast class must differ from the target class ({klass}): choose another "
            "class to explain why the model says one rather than the other"
        )
    targets = klass if contrast is None else (klass, contrast)
    used = methods()
    maps = np.concatenate(
        [attribute(trained, x, m, targets, **options.for_method(m)) for m in used]
    )
    curves = deletion_curves(trained, np.repeat(x, len(used), axis=0), maps, klass)
    result = Explanation(used, maps, curves, proba, klass, contrast)
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def display_levels(maps: np.ndarray) -> np.ndarray:
    """`(M, H, W)` maps as 0..1 levels: each map's positive part over its own maximum (maps of
    different methods have different units; a map with nothing positive is all 0)."""
    positive = np.maximum(np.asarray(maps, dtype=np.float32), 0.0)
    top = positive.reshape(len(positive), -1).max(axis=1) if positive.size else np.zeros(0)
    return positive / np.where(top > 0, top, 1.0)[:, None, None]


def background_rgb(image: np.ndarray, grey: bool = False) -> np.ndarray:
    """`(H, W, 3)` uint8: a grey `(H, W)` image or a colour `(H, W, 3)` one (`grey`: its
    luminance), the picture the maps are laid over."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and grey:
        image = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.clip(image, 0, 255).astype(np.uint8)


def overlay(background: np.ndarray, levels: np.ndarray, colormap: str, opacity: float):
    """`(H, W, 3)` uint8: `levels` (0..1) in `colormap` laid over `background` with `opacity`."""
    heat = imaging.colorize(levels, colormap).astype(np.float32)
    mixed = (1.0 - opacity) * background.astype(np.float32) + opacity * heat
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def explanation_png(
    result: Explanation,
    image: np.ndarray,
    *,
    colormap: str,
    opacity: float,
    grey: bool,
    title: str,
) -> bytes:
    """The maps laid over the image side by side, each captioned with its deletion area
    against random's, under a title: the page's "Download PNG"."""
    background = background_rgb(image, grey)
    levels = display_levels(result.maps)
    h, w = background.shape[:2]
    scale = max(1, round(192 / max(h, w)))
    tiles = [
        overlay(background, levels[k], colormap, opacity).repeat(scale, 0).repeat(scale, 1)
        for k in range(len(result.methods))
    ]
    font = ImageFont.load_default(size=14)
    pad, top, caption = 8, 30, 40
    tile_h, tile_w = tiles[0].shape[:2]
    width = pad + len(tiles) * (tile_w + pad)
    canvas = Image.new("RGB", (width, top + tile_h + caption), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, 6), title, fill="black", font=font)
    for k, (method, tile) in enumerate(zip(result.methods, tiles, strict=True)):
        left = pad + k * (tile_w + pad)
        canvas.paste(Image.fromarray(tile), (left, top))
        curve = result.curves[k]
        draw.text((left, top + tile_h + 4), LABELS[method], fill="black", font=font)
        area = f"area {curve.area:.2f}, random {curve.random_area:.2f}"
        draw.text((left, top + tile_h + 21), area, fill="#444", font=font)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
