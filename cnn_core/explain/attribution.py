"""Attribution: which pixels of an image drove a class score, and a deletion check of each map.

Five methods, each run on the model's own layers (`cnn_core.model.forward.ExposedForward`) so the
target is the exact pre-softmax class score (a logit, or the difference of two for a contrast
"why a rather than b"):

- `"saliency"`: |gradient of the target| w.r.t. the input, max over channels.
- `"smoothgrad"`: the mean |gradient| over noisy copies of the image (Smilkov et al. 2017), the
  noise's std a fraction of the image's value range; max over channels.
- `"integrated_gradients"`: `(x − baseline) · mean gradient` along the straight path from a
  baseline to `x` (Sundararajan et al. 2017), summed over channels, signed. The baseline is a
  black image *in model space* (`trained.standardize(0)`) or a blurred copy of `x`. Its sum
  equals `target(x) − target(baseline)` (completeness), up to the path integral's error.
- `"gradcam"`: Grad-CAM (Selvaraju et al. 2017) on any map layer: ReLU of the layer's maps
  weighted by the spatial mean of the target's gradient, upsampled bilinearly to the input size.
- `"occlusion"`: how much the target drops when a window of the image is set to black (model
  space), averaged over the windows covering each pixel (Zeiler & Fergus 2014).

Each method is one `tf.function` with a fixed input signature (batch `None`), traced once per
model on first use (`Attributor.tracing_count`; Grad-CAM once per node asked for on a model of
more than `GRADCAM_SWITCH_LAYERS` map nodes); the interpolation steps, noise samples and
occluded windows of an image run as one batch. `deletion_curve` measures how faithful a map is:
the target probability while the most-attributed pixels are set to black, against a random
order.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from cnn_core.model.anatomy import ModelDescription
from cnn_core.model.forward import ExposedForward
from cnn_core.model.trained import TrainedModel

METHODS: tuple[str, ...] = (
    "saliency",
    "smoothgrad",
    "integrated_gradients",
    "gradcam",
    "occlusion",
)

#: Most images one traced call takes (steps x images, samples x images, windows x images): a
#: seed-CNN image costs about 0.5 MB of activations and gradients.
MAX_ROWS = 1024

#: The options of each method and their defaults (`layer=None`: the last map layer).
DEFAULTS: dict[str, dict[str, Any]] = {
    "saliency": {},
    "smoothgrad": {"samples": 16, "noise": 0.15, "seed": 0},
    "integrated_gradients": {
        "steps": 32,
        "baseline": "black",
        "blur_sigma": 5.0,
        "absolute": False,
    },
    "gradcam": {"layer": None},
    "occlusion": {"window": 4, "stride": 2, "absolute": False},
}

BASELINES: tuple[str, ...] = ("black", "blurred")

#: Inclusive ranges of the numeric options. Occlusion's `window` is 1 to the image's size and
#: its `stride` 1 to the window (so every pixel is covered).
LIMITS: dict[str, tuple[float, float]] = {
    "samples": (1, MAX_ROWS),
    "noise": (0.0, 1.0),
    "seed": (0, 2**31 - 1),
    "steps": (1, MAX_ROWS),
    "blur_sigma": (0.1, 100.0),
}


class AttributionError(ValueError):
    """A bad method, layer, target, option or image for attribution; the message says which."""


# targets ---------------------------------------------------------------------------------------


def target_weights(targets: Any, n: int, num_classes: int) -> np.ndarray:
    """The class-score weights of the targets: the target of image `i` is `w[i] · logits[i]`.

    Args:
        targets: one of
            - an int `k`: class `k` for every image;
            - a tuple `(a, b)` of two ints: the contrast logit a − logit b for every image (a
              tuple of two is always a contrast, even for two images);
            - a list or array of `n` entries, one per image, each a class or an `(a, b)` pair
              (an `(n,)` or `(n, 2)` integer array).
        n: the number of images.
        num_classes: the model's number of classes.

    Returns:
        `(n, num_classes)` float32: a one-hot row per class, `+1 / -1` per contrast.

    Raises:
        AttributionError: a class outside 0..num_classes-1, a non-integer, a contrast of a class
            with itself, or not one target per image.
    """
    if _is_class(targets) or (isinstance(targets, tuple) and len(targets) == 2):
        per_image = [targets] * n
    elif isinstance(targets, list | np.ndarray | tuple):
        per_image = list(targets)
        if len(per_image) != n:
            raise AttributionError(
                f"{len(per_image)} targets for {n} images: give one class or (a, b) pair per "
                "image, or a single class or (a, b) tuple for all"
            )
    else:
        raise AttributionError(
            f"targets must be a class, an (a, b) tuple or one of them per image, got {targets!r}"
        )
    w = np.zeros((n, num_classes), np.float32)
    for i, target in enumerate(per_image):
        if _is_class(target):
            w[i, _check_class(target, num_classes)] = 1.0
            continue
        pair = list(target) if isinstance(target, list | tuple | np.ndarray) else None
        if pair is None or len(pair) != 2 or not all(_is_class(c) for c in pair):
            raise AttributionError(
                f"target {target!r} of image {i} is neither a class nor an (a, b) pair of classes"
            )
        a, b = (_check_class(c, num_classes) for c in pair)
        if a == b:
            raise AttributionError(f"contrast ({a}, {b}) of image {i} needs two different classes")
        w[i, a], w[i, b] = 1.0, -1.0
    return w


def _is_class(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _check_class(value: Any, num_classes: int) -> int:
    if not _is_class(value):
        raise AttributionError(f"a class must be an integer, got {value!r}")
    if not 0 <= int(value) < num_classes:
        raise AttributionError(
            f"class {int(value)} does not exist: this model has classes 0-{num_classes - 1}"
        )
    return int(value)


# options ---------------------------------------------------------------------------------------


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if not _is_class(value):
        raise AttributionError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise AttributionError(f"{name} must be between {low} and {high}, got {value}")
    return int(value)


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise AttributionError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(float(value)) and low <= float(value) <= high):
        raise AttributionError(f"{name} must be between {low} and {high}, got {value}")
    return float(value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise AttributionError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _pair(name: str, value: Any, high: tuple[int, int]) -> tuple[int, int]:
    """An int or `(rows, cols)`, each 1..high."""
    values = list(value) if isinstance(value, list | tuple) else [value, value]
    if len(values) != 2:
        raise AttributionError(f"{name} must be an integer or (rows, cols), got {value!r}")
    return (
        _integer(f"{name} rows", values[0], 1, high[0]),
        _integer(f"{name} cols", values[1], 1, high[1]),
    )


def check_options(method: str, description: ModelDescription, **options: Any) -> dict[str, Any]:
    """The method's options with defaults filled in, checked against the model.

    Args:
        method: one of `METHODS`.
        description: the model's description (its map layers, its image size).
        **options: any of `DEFAULTS[method]`.

    Returns:
        `{option: value}` for every option of the method (`layer` resolved to a name).

    Raises:
        AttributionError: unknown method or option, a value of the wrong type or outside its
            range, a layer that is not a map layer of the model.
    """
    if method not in METHODS:
        raise AttributionError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    defaults = DEFAULTS[method]
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        known = ", ".join(defaults) or "none"
        raise AttributionError(
            f"unknown option(s) {', '.join(unknown)} for {method}; its options: {known}"
        )
    values = {**defaults, **options}
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("samples", "steps", "seed"):
            low, high = LIMITS[name]
            out[name] = _integer(name, value, int(low), int(high))
        elif name in ("noise", "blur_sigma"):
            out[name] = _number(name, value, *LIMITS[name])
        elif name == "absolute":
            out[name] = _boolean(name, value)
        elif name == "baseline":
            if value not in BASELINES:
                raise AttributionError(
                    f"baseline must be one of {', '.join(BASELINES)}, got {value!r}"
                )
            out[name] = value
        elif name == "layer":
            out[name] = _map_layer(description, value)
        elif name == "window":
            out[name] = _pair("window", value, (description.height, description.width))
    if method == "occlusion":
        out["stride"] = _pair("stride", values["stride"], out["window"])
    return out


def _map_layer(description: ModelDescription, layer: Any) -> str:
    maps = description.map_layers
    if not maps:
        raise AttributionError(
            f"gradcam needs a map layer (convolution or pooling); model {description.name!r} "
            "has none"
        )
    if layer is None:
        return maps[-1]
    if layer in maps:
        return str(layer)
    if isinstance(layer, str) and layer in description.names:
        raise AttributionError(
            f"gradcam needs a map layer; {layer!r} gives nodes. Map layers: {', '.join(maps)}"
        )
    raise AttributionError(f"unknown layer {layer!r} for gradcam; map layers: {', '.join(maps)}")


#: Models with at most this many map nodes trace Grad-CAM once for all of them (a switch, each
#: branch a forward and backward pass: the seed's 5); larger ones trace one function per node
#: asked for (a switch over 60 nodes of MobileNetV2 would trace 60 networks).
GRADCAM_SWITCH_LAYERS = 8


# the engine ------------------------------------------------------------------------------------


class Attributor:
    """The five attribution methods and the deletion check for one model, traced lazily.

    Each method's `tf.function` (fixed input signature, batch `None`) is traced on its first use
    and reused for every batch size, class, contrast and option value: `tracing_count()` stays
    at one per method used. Calls are thread-safe (tracing is locked; concrete functions may run
    concurrently).

    The model's layers are read at construction (`ExposedForward` copies layers with a fused
    activation): build a new `Attributor` after changing the model's weights.

    Args:
        trained: any model the description accepts (1 or 3 channels, softmax or raw scores).
    """

    def __init__(self, trained: TrainedModel) -> None:
        self.description: ModelDescription = trained.desc
        desc = self.description
        self.image_shape: tuple[int, int, int] = desc.input_shape
        self.num_classes = desc.num_classes
        # Black in model space: what a pixel of value 0 becomes (`standardize(0)`).
        self.black: np.ndarray = trained.standardize(np.zeros((1, *self.image_shape)))[0]
        self._forward = ExposedForward(trained.model, desc)
        self._black_t = tf.constant(self.black)
        self._lock = threading.Lock()
        self._functions: dict[str, Any] = {}
        self._concrete: dict[str, Any] = {}
        self._masks: dict[tuple[tuple[int, int], tuple[int, int]], np.ndarray] = {}

    # tracing ---------------------------------------------------------------------------------
    def _specs(self) -> dict[str, tf.TensorSpec]:
        h, w, c = self.image_shape
        return {
            "x": tf.TensorSpec([None, h, w, c], tf.float32, name="x"),
            "w": tf.TensorSpec([None, self.num_classes], tf.float32, name="w"),
            "alphas": tf.TensorSpec([None], tf.float32, name="alphas"),
            "masks": tf.TensorSpec([None, h, w], tf.float32, name="masks"),
            "f32": tf.TensorSpec([], tf.float32),
            "i32": tf.TensorSpec([], tf.int32),
            "i64": tf.TensorSpec([], tf.int64),
        }

    def _graph(self, name: str) -> Callable[..., Any]:
        """The concrete function of `name` (a method, "probabilities", or "gradcam:<layer>" for
        one layer's Grad-CAM), traced once."""
        with self._lock:
            concrete = self._concrete.get(name)
            if concrete is None:
                s = self._specs()
                method, _, layer = name.partition(":")
                bodies = {
                    "saliency": (self._saliency, [s["x"], s["w"]]),
                    "smoothgrad": (
                        self._smoothgrad,
                        [s["x"], s["w"], s["f32"], s["i32"], s["i64"]],
                    ),
                    "integrated_gradients": (
                        self._integrated_gradients,
                        [s["x"], s["x"], s["w"], s["alphas"]],
                    ),
                    "gradcam": (self._gradcam, [s["x"], s["w"], s["i32"]]),
                    "occlusion": (self._occlusion, [s["x"], s["w"], s["masks"]]),
                    "probabilities": (self._probabilities, [s["x"]]),
                }
                if layer:
                    bodies[method] = (lambda x, w: self._cam(x, w, layer), [s["x"], s["w"]])
                body, signature = bodies[method]
                # explicit tf control flow only: autograph would convert every layer's Python
                function = tf.function(body, input_signature=signature, autograph=False)
                concrete = function.get_concrete_function()
                self._functions[name] = function
                self._concrete[name] = concrete
            return concrete

    def tracing_count(self, name: str | None = None) -> int:
        """How often `name` (a method or "probabilities"; default all) was traced: 0 or 1."""
        return sum(
            function.experimental_get_tracing_count()
            for n, function in self._functions.items()
            if name is None or n.partition(":")[0] == name
        )

    # graph bodies (traced) -------------------------------------------------------------------
    def _target(self, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        """`(N,)` target scores `w · logits(x)` of `(N, H, W, C)` model input."""
        _, _, logits = self._forward(x)
        return tf.reduce_sum(logits * w, axis=1)

    def _gradient(self, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        """`(N, H, W, C)` gradient of each image's own target (images are independent)."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(self._target(x, w))
        return tape.gradient(total, x)

    def _saliency(self, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        return tf.reduce_max(tf.abs(self._gradient(x, w)), axis=-1)

    def _smoothgrad(
        self, x: tf.Tensor, w: tf.Tensor, noise: tf.Tensor, samples: tf.Tensor, seed: tf.Tensor
    ) -> tf.Tensor:
        h, wd, c = self.image_shape
        n = tf.shape(x)[0]
        # The same noise images for every image of the batch: a result never depends on the
        # rest of the batch.
        eps = tf.random.stateless_normal(
            tf.stack([samples, h, wd, c]), seed=tf.stack([seed, tf.constant(0, tf.int64)])
        )
        spread = tf.reduce_max(x, axis=[1, 2, 3]) - tf.reduce_min(x, axis=[1, 2, 3])
        sigma = noise * spread
        noisy = x[:, None] + sigma[:, None, None, None, None] * eps[None]
        flat = tf.reshape(noisy, [-1, h, wd, c])
        grad = self._gradient(flat, tf.repeat(w, samples, axis=0))
        grad = tf.reshape(tf.abs(grad), [n, samples, h, wd, c])
        return tf.reduce_max(tf.reduce_mean(grad, axis=1), axis=-1)

    def _integrated_gradients(
        self, x: tf.Tensor, baseline: tf.Tensor, w: tf.Tensor, alphas: tf.Tensor
    ) -> tf.Tensor:
        h, wd, c = self.image_shape
        n, steps = tf.shape(x)[0], tf.shape(alphas)[0]
        diff = x - baseline
        path = baseline[:, None] + alphas[None, :, None, None, None] * diff[:, None]
        grad = self._gradient(tf.reshape(path, [-1, h, wd, c]), tf.repeat(w, steps, axis=0))
        mean_grad = tf.reduce_mean(tf.reshape(grad, [n, steps, h, wd, c]), axis=1)
        return tf.reduce_sum(diff * mean_grad, axis=-1)

    def _cam(self, x: tf.Tensor, w: tf.Tensor, name: str) -> tf.Tensor:
        """`(N, H, W)` Grad-CAM of map node `name`: its own forward and backward pass (the
        backward pass stops at that node)."""
        h, wd, _ = self.image_shape
        with tf.GradientTape() as tape:
            outputs, _, logits = self._forward(x)
            maps = outputs[name]
            tape.watch(maps)
            total = tf.reduce_sum(logits * w)
        grad = tape.gradient(total, maps)
        weights = tf.reduce_mean(grad, axis=[1, 2], keepdims=True)
        heat = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))
        return tf.image.resize(heat, (h, wd), method="bilinear")[..., 0]

    def _gradcam(self, x: tf.Tensor, w: tf.Tensor, layer_index: tf.Tensor) -> tf.Tensor:
        """Every map node's Grad-CAM as the branches of one traced switch (small models)."""
        branches = [lambda name=name: self._cam(x, w, name) for name in self.description.map_layers]
        return tf.switch_case(layer_index, branches)

    def _occlusion(self, x: tf.Tensor, w: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
        """`(N, H, W)`: the sum over windows of the target's drop times the window's mask."""
        h, wd, c = self.image_shape
        n, m = tf.shape(x)[0], tf.shape(masks)[0]
        cover = masks[None, :, :, :, None]
        occluded = x[:, None] * (1.0 - cover) + self._black_t * cover
        batch = tf.concat([x, tf.reshape(occluded, [-1, h, wd, c])], axis=0)
        weights = tf.concat([w, tf.repeat(w, m, axis=0)], axis=0)
        scores = self._target(batch, weights)
        drop = scores[:n, None] - tf.reshape(scores[n:], [n, m])
        return tf.einsum("nm,mhw->nhw", drop, masks)

    def _probabilities(self, x: tf.Tensor) -> tf.Tensor:
        _, _, logits = self._forward(x)
        return tf.nn.softmax(logits)

    # public ----------------------------------------------------------------------------------
    def as_batch(self, x: Any) -> np.ndarray:
        """`(N, H, W, C)` (or `(N, H, W)` for one channel) model input -> `(N, H, W, C)` float32.

        Raises:
            AttributionError: another shape, or values that are not finite.
        """
        arr = np.asarray(x, dtype=np.float32)
        h, w, c = self.image_shape
        if arr.ndim == 3 and c == 1:
            arr = arr[..., None]
        if arr.ndim != 4 or arr.shape[1:] != self.image_shape:
            grey = f" or (N, {h}, {w})" if c == 1 else ""
            raise AttributionError(
                f"expected model-input images (N, {h}, {w}, {c}){grey}, got shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise AttributionError("images contain NaN or infinite values")
        return np.ascontiguousarray(arr)

    def attribute(self, x: Any, method: str, targets: Any, **options: Any) -> np.ndarray:
        """Attribution maps of `method` for each image's target.

        Args:
            x: `(N, H, W, C)` float32 model input (`trained.standardize(pixels)`); `(N, H, W)`
                is accepted for a one-channel model.
            method: one of `METHODS`.
            targets: see `target_weights`: a class, an `(a, b)` contrast tuple, or one per image.
            **options: the method's options (`DEFAULTS[method]`): smoothgrad `samples`, `noise`
                (the noise's std as a fraction of each image's max − min), `seed`;
                integrated_gradients `steps`, `baseline` ("black" or "blurred"), `blur_sigma`
                (px, for "blurred"), `absolute`; gradcam `layer` (a map layer, default the
                last); occlusion `window`, `stride` (px, an int or `(rows, cols)`),
                `absolute`.

        Returns:
            `(N, H, W)` float32. saliency, smoothgrad and gradcam are >= 0; integrated
            gradients and occlusion are signed (positive: supports the target) unless
            `absolute=True`.

        Raises:
            AttributionError: bad method, option, layer, target or images.
        """
        opts = check_options(method, self.description, **options)
        images = self.as_batch(x)
        w = target_weights(targets, len(images), self.num_classes)
        h, wd, _ = self.image_shape
        if len(images) == 0:
            return np.zeros((0, h, wd), np.float32)
        if method == "saliency":
            out = self._batched(images, w, 1, lambda xb, wb: self._graph(method)(xb, wb))
        elif method == "smoothgrad":
            fn = self._graph(method)
            noise = tf.constant(opts["noise"], tf.float32)
            samples = tf.constant(opts["samples"], tf.int32)
            seed = tf.constant(opts["seed"], tf.int64)
            out = self._batched(
                images, w, opts["samples"], lambda xb, wb: fn(xb, wb, noise, samples, seed)
            )
        elif method == "integrated_gradients":
            fn = self._graph(method)
            steps = opts["steps"]
            alphas = tf.constant((np.arange(steps, dtype=np.float32) + 0.5) / steps)
            baselines = self.baselines(images, opts["baseline"], opts["blur_sigma"])
            out = np.concatenate(
                [
                    fn(
                        tf.constant(images[i : i + g]),
                        tf.constant(baselines[i : i + g]),
                        tf.constant(w[i : i + g]),
                        alphas,
                    ).numpy()
                    for i, g in _groups(len(images), steps)
                ]
            )
        elif method == "gradcam" and len(self.description.map_layers) > GRADCAM_SWITCH_LAYERS:
            fn = self._graph(f"gradcam:{opts['layer']}")
            out = self._batched(images, w, 1, fn)
        elif method == "gradcam":
            fn = self._graph(method)
            index = tf.constant(self.description.map_layers.index(opts["layer"]), tf.int32)
            out = self._batched(images, w, 1, lambda xb, wb: fn(xb, wb, index))
        else:
            out = self._occlusion_maps(images, w, opts["window"], opts["stride"])
        if opts.get("absolute"):
            out = np.abs(out)
        return out.astype(np.float32)

    def _batched(
        self,
        images: np.ndarray,
        w: np.ndarray,
        rows_per_image: int,
        call: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    ) -> np.ndarray:
        return np.concatenate(
            [
                call(tf.constant(images[i : i + g]), tf.constant(w[i : i + g])).numpy()
                for i, g in _groups(len(images), rows_per_image)
            ]
        )

    def baselines(self, images: np.ndarray, kind: str = "black", blur_sigma: float = 5.0):
        """Integrated gradients' starting images.

        Args:
            images: `(N, H, W, C)` float32 model input.
            kind: "black" (`standardize(0)` everywhere) or "blurred" (each image blurred with a
                Gaussian of `blur_sigma` px, in model space, borders renormalized).
            blur_sigma: px.

        Returns:
            `(N, H, W, C)` float32.
        """
        if kind == "black":
            return np.broadcast_to(self.black, images.shape).astype(np.float32)
        h, w, _ = self.image_shape
        rows, cols = _blur_matrix(h, blur_sigma), _blur_matrix(w, blur_sigma)
        return np.einsum("ij,njkc,lk->nilc", rows, images, cols).astype(np.float32)

    def occlusion_masks(self, window: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
        """`(M, H, W)` float32 0/1 masks, one per window position; the last row and column of
        windows sit on the image's border, so every pixel is covered."""
        key = (window, stride)
        masks = self._masks.get(key)
        if masks is None:
            h, w, _ = self.image_shape
            tops = _positions(h, window[0], stride[0])
            lefts = _positions(w, window[1], stride[1])
            masks = np.zeros((len(tops) * len(lefts), h, w), np.float32)
            for k, (top, left) in enumerate((t, lf) for t in tops for lf in lefts):
                masks[k, top : top + window[0], left : left + window[1]] = 1.0
            self._masks[key] = masks
        return masks

    def _occlusion_maps(
        self, images: np.ndarray, w: np.ndarray, window: tuple[int, int], stride: tuple[int, int]
    ) -> np.ndarray:
        masks = self.occlusion_masks(window, stride)
        fn = self._graph("occlusion")
        coverage = masks.sum(axis=0)
        windows = len(masks)
        out = []
        if windows + 1 <= MAX_ROWS:  # several images' windows in one call
            for i, g in _groups(len(images), windows + 1):
                out.append(
                    fn(
                        tf.constant(images[i : i + g]),
                        tf.constant(w[i : i + g]),
                        tf.constant(masks),
                    ).numpy()
                )
        else:  # a large image: its windows in chunks
            chunk = MAX_ROWS - 1
            for i in range(len(images)):
                x_t, w_t = tf.constant(images[i : i + 1]), tf.constant(w[i : i + 1])
                out.append(
                    sum(
                        fn(x_t, w_t, tf.constant(masks[k : k + chunk])).numpy()
                        for k in range(0, windows, chunk)
                    )
                )
        return np.concatenate(out) / coverage

    def probabilities(self, x: Any) -> np.ndarray:
        """`(N, classes)` float32 softmax of the logits of `(N, H, W, C)` model input."""
        images = self.as_batch(x)
        fn = self._graph("probabilities")
        chunks = [
            fn(tf.constant(images[i : i + MAX_ROWS])).numpy()
            for i in range(0, len(images), MAX_ROWS)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.num_classes), np.float32)

    def deletion_curves(
        self,
        x: Any,
        attributions: Any,
        targets: Any,
        fractions: Any = None,
        seed: int = 0,
    ) -> DeletionCurves:
        """See `deletion_curves` (module level)."""
        images = self.as_batch(x)
        n = len(images)
        h, w, _ = self.image_shape
        maps = np.asarray(attributions, dtype=np.float32)
        if maps.ndim == 2:
            maps = maps[None]
        if maps.shape != (n, h, w):
            raise AttributionError(
                f"expected attributions ({n}, {h}, {w}) for {n} images, got {maps.shape}"
            )
        if not np.isfinite(maps).all():
            raise AttributionError("attributions contain NaN or infinite values")
        classes = _deletion_targets(targets, n, self.num_classes)
        fracs = _check_fractions(fractions)
        seed = _integer("seed", seed, 0, 2**31 - 1)
        pixels = h * w
        counts = np.round(fracs * pixels).astype(np.int64)
        # rank[i, p]: when pixel p of image i is deleted (0 first). One random order for every
        # image (so an image's curves do not depend on its batch); ties in a map are broken in
        # that order.
        random_rank = np.empty(pixels, np.int64)
        random_rank[np.random.default_rng(seed).permutation(pixels)] = np.arange(pixels)
        ranks = np.empty((2, n, pixels), np.int64)
        ranks[1] = random_rank
        for i in range(n):
            ranks[0, i, np.lexsort((random_rank, -maps[i].ravel()))] = np.arange(pixels)
        deleted = ranks[:, :, None, :] < counts[None, None, :, None]  # (2, N, F, HW)
        deleted = deleted.reshape(2, n, len(fracs), h, w, 1)
        batch = np.where(deleted, self.black, images[None, :, None]).astype(np.float32)
        proba = self.probabilities(batch.reshape(-1, *self.image_shape))
        proba = proba.reshape(2, n, len(fracs), self.num_classes)
        chosen = np.take_along_axis(proba, classes[None, :, None, None], axis=3)[..., 0]
        span = float(fracs[-1] - fracs[0])
        areas = np.trapezoid(chosen, fracs, axis=2) / span
        return DeletionCurves(
            fractions=fracs,
            probabilities=chosen[0].astype(np.float32),
            random_probabilities=chosen[1].astype(np.float32),
            areas=areas[0].astype(np.float32),
            random_areas=areas[1].astype(np.float32),
            targets=classes,
        )


def _groups(n: int, rows_per_image: int) -> list[tuple[int, int]]:
    """`(start, count)` of consecutive images such that count x rows_per_image <= MAX_ROWS."""
    per_call = max(1, MAX_ROWS // max(1, rows_per_image))
    return [(i, min(per_call, n - i)) for i in range(0, n, per_call)]


def _positions(size: int, window: int, stride: int) -> list[int]:
    positions = list(range(0, size - window + 1, stride))
    if positions[-1] != size - window:
        positions.append(size - window)
    return positions


def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    """`(size, size)` float32 Gaussian weights, each row summing to 1 (borders renormalized)."""
    idx = np.arange(size, dtype=np.float64)
    weights = np.exp(-0.5 * ((idx[:, None] - idx[None, :]) / sigma) ** 2)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _deletion_targets(targets: Any, n: int, num_classes: int) -> np.ndarray:
    w = target_weights(targets, n, num_classes)
    if (w < 0).any():
        raise AttributionError(
            "a deletion curve follows one class's probability; for a contrast (a, b) pass a"
        )
    return w.argmax(axis=1).astype(np.int64)


#: The default deletion steps: 0%, 10%, ..., 100% of the pixels.
DEFAULT_FRACTIONS = np.linspace(0.0, 1.0, 11, dtype=np.float64)


def _check_fractions(fractions: Any) -> np.ndarray:
    if fractions is None:
        return DEFAULT_FRACTIONS.copy()
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or len(f) < 2 or not np.isfinite(f).all():
        raise AttributionError(f"fractions must be at least 2 numbers, got {fractions!r}")
    if f.min() < 0 or f.max() > 1 or (np.diff(f) <= 0).any():
        raise AttributionError("fractions must rise strictly from >= 0 to <= 1")
    return f


@dataclass(frozen=True)
class DeletionCurves:
    """Deletion curves of N images, each against a random deletion order.

    Attributes:
        fractions: `(F,)` float64, the fraction of pixels set to black, rising.
        probabilities: `(N, F)` float32, the target's softmax probability after deleting the
            most-attributed pixels first.
        random_probabilities: `(N, F)` float32, the same in a random (seeded) order.
        areas: `(N,)` float32, trapezoid area under `probabilities` over `fractions`, divided
            by the span of `fractions` (0-1: lower = the map found the pixels that matter).
        random_areas: `(N,)` float32, the same for the random order.
        targets: `(N,)` int64, the class followed per image.
    """

    fractions: np.ndarray
    probabilities: np.ndarray
    random_probabilities: np.ndarray
    areas: np.ndarray
    random_areas: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.areas)

    def __getitem__(self, i: int) -> DeletionCurve:
        return DeletionCurve(
            fractions=self.fractions,
            probabilities=self.probabilities[i],
            random_probabilities=self.random_probabilities[i],
            area=float(self.areas[i]),
            random_area=float(self.random_areas[i]),
            target=int(self.targets[i]),
        )


@dataclass(frozen=True)
class DeletionCurve:
    """One image's deletion curve and its random reference.

    Attributes:
        fractions: `(F,)` float64, the fraction of pixels set to black.
        probabilities: `(F,)` float32, the target probability, most-attributed pixels first.
        random_probabilities: `(F,)` float32, the same in a random order.
        area: area under `probabilities` (0-1, lower = more faithful).
        random_area: area under `random_probabilities`.
        target: the class followed.
    """

    fractions: np.ndarray
    probabilities: np.ndarray
    random_probabilities: np.ndarray
    area: float
    random_area: float
    target: int

    @property
    def ratio(self) -> float:
        """`area / random_area` (below 1: better than chance; inf if random's is 0)."""
        return self.area / self.random_area if self.random_area > 0 else math.inf


# module-level API ------------------------------------------------------------------------------

_ATTRIBUTORS: dict[int, Attributor] = {}
_ATTRIBUTORS_LOCK = threading.Lock()


def attributor_for(trained: TrainedModel) -> Attributor:
    """The process's `Attributor` for `trained`, built on first use and dropped with `trained`."""
    key = id(trained)
    with _ATTRIBUTORS_LOCK:
        attributor = _ATTRIBUTORS.get(key)
        if attributor is None:
            attributor = _ATTRIBUTORS[key] = Attributor(trained)
            # The attributor holds the model, not `trained`: when `trained` goes, so does it.
            weakref.finalize(trained, _ATTRIBUTORS.pop, key, None)
        return attributor


def attribute(trained: TrainedModel, x: Any, method: str, targets: Any, **options: Any):
    """Attribution maps: which pixels of each image drove its target class score.

    Args:
        trained: the model (its `Attributor` is built and cached on first use).
        x: `(N, H, W, C)` float32 model input (`trained.standardize(pixels)`); `(N, H, W)` for
            a one-channel model.
        method: "saliency", "smoothgrad", "integrated_gradients", "gradcam" or "occlusion".
        targets: a class for all, an `(a, b)` tuple (contrast logit a − logit b) for all, or a
            list / array with one class or pair per image (`target_weights`).
        **options: the method's options, `DEFAULTS[method]` (see `Attributor.attribute`).

    Returns:
        `(N, H, W)` float32 maps.

    Raises:
        AttributionError: bad method, option, layer, target or images.
    """
    return attributor_for(trained).attribute(x, method, targets, **options)


def deletion_curves(
    trained: TrainedModel,
    x: Any,
    attributions: Any,
    targets: Any,
    fractions: Any = None,
    seed: int = 0,
) -> DeletionCurves:
    """Deletion check of many images: the target probability as the most-attributed pixels are
    set to black (model space, `standardize(0)`), against a random order.

    All fractions of all images (both orders) run as batches of the traced softmax. The random
    order comes from `seed` and is the same for every image, so an image's curves do not depend
    on the rest of the batch; ties in a map are broken in that order.

    Args:
        trained: the model.
        x: `(N, H, W, C)` float32 model input.
        attributions: `(N, H, W)` maps (higher = deleted first; signed maps delete their most
            positive pixels first).
        targets: one class for all or one per image (not a contrast).
        fractions: rising fractions of pixels in 0-1; default 0, 0.1, ..., 1 (11 points).
        seed: the random order's seed.

    Returns:
        `DeletionCurves` (index it for one image's `DeletionCurve`).

    Raises:
        AttributionError: mismatched shapes, bad targets or fractions.
    """
    return attributor_for(trained).deletion_curves(x, attributions, targets, fractions, seed)


def deletion_curve(
    trained: TrainedModel,
    x: Any,
    attribution: Any,
    target: int,
    fractions: Any = None,
    seed: int = 0,
) -> DeletionCurve:
    """Deletion check of one image (see `deletion_curves`).

    Args:
        trained: the model.
        x: `(H, W, C)` or `(1, H, W, C)` float32 model input (`(H, W)` for one channel).
        attribution: `(H, W)` map.
        target: the class whose probability is followed.
        fractions: rising fractions in 0-1; default 11 points from 0 to 1.
        seed: the random order's seed.

    Returns:
        `DeletionCurve`: `fractions (F,)`, `probabilities (F,)`, `area`, and the same for the
        random order.
    """
    image = np.asarray(x, dtype=np.float32)
    shape = trained.desc.input_shape
    if image.shape == shape or (shape[2] == 1 and image.shape == shape[:2]):
        image = image[None]
    if not _is_class(target):
        raise AttributionError(f"target must be a class (an integer), got {target!r}")
    curves = attributor_for(trained).deletion_curves(
        image, np.asarray(attribution)[None], [target], fractions, seed
    )
    if len(curves) != 1:
        raise AttributionError(f"deletion_curve takes one image, got {len(curves)}")
    return curves[0]


def spearman(a: Any, b: Any) -> float:
    """Spearman rank correlation of two equally shaped arrays (ties get their mean rank).

    Returns:
        A float in [-1, 1]; nan if either array is constant.
    """
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    if ra.shape != rb.shape:
        raise AttributionError(f"shapes differ: {np.shape(a)} and {np.shape(b)}")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else math.nan


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # Mean rank per group of equal values.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_ranks = (starts + ends - 1) / 2.0
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.repeat(mean_ranks, ends - starts)
    return ranks


__all__: Sequence[str] = [
    "BASELINES",
    "DEFAULTS",
    "DEFAULT_FRACTIONS",
    "LIMITS",
    "MAX_ROWS",
    "METHODS",
    "AttributionError",
    "Attributor",
    "DeletionCurve",
    "DeletionCurves",
    "attribute",
    "attributor_for",
    "check_options",
    "deletion_curve",
    "deletion_curves",
    "spearman",
    "target_weights",
]
