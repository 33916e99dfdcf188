"""The gradient-ascent loop: many OIPs as one batch in one traced graph, with progress and stop.

Every objective is a linear combination, per image, of per-unit quantities (the spatial mean of
each map of each shown map layer, before and after its activation; each node of each hidden
node layer; each class logit). The engine runs the model's own Keras layers
(`cnn_core.model.forward.ExposedForward`), computes all quantities at once and weights them with a
per-image matrix fed as a tensor. So one `tf.function`, traced at construction with a fixed
input signature (batch dimension `None`), serves every objective and batch size:
`OipEngine.run` never retraces.

The ascent moves an image `y` in the data's standardized pixel space (`(pixel - mean) / std`
with the training pixels' mean and std, `TrainedModel.pixel_stats`); the model sees
`standardize(y * std + mean)`. For the seed CNN both spaces are the same.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from cnn_core import config
from cnn_core.model.anatomy import ModelDescription
from cnn_core.model.forward import ExposedForward
from cnn_core.model.trained import TrainedModel
from cnn_core.oip.init import INITS, starting_images
from cnn_core.oip.objectives import LOGIT, ClassLogit, MapMean, Node, Objective, OipError, Term
from cnn_core.oip.transforms import (
    tf_gaussian_blur,
    tf_roll_each,
    tf_standardize_each,
    tf_total_variation,
)

#: Most images one `run` optimizes at once (memory: about 0.5 MB of activations per image).
MAX_BATCH = 1024


@dataclass(frozen=True)
class Range:
    """An inclusive range of allowed values."""

    lo: float
    hi: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float | np.number) and self.lo <= value <= self.hi  # type: ignore[operator]


@dataclass(frozen=True)
class AscentLimits:
    """The allowed ranges of the ascent's parameters: the one source for the engine, the job
    requests of the app (`app.jobspec`) and the ranges of the OIP page's inputs."""

    steps: Range = Range(1, 2_000)
    step_size: Range = Range(1e-4, 10.0)
    wavelength: Range = Range(1.0, 256.0)  # at most the image's longer side is used
    blur_sigma: Range = Range(0.0, 5.0)
    seed: Range = Range(0, 2**31 - 2)


LIMITS = AscentLimits()
MAX_STEPS = int(LIMITS.steps.hi)
_SEED_LIMIT = 2**31 - 1  # the modulus of the per-image jitter generator; seeds stay below
_MINSTD = 48_271  # Lehmer generator multiplier: per-image jitter offsets from (seed, step)


@dataclass(frozen=True)
class AscentOptions:
    """How to ascend. The defaults give every Conv2D_3 map an OIP above the best test digit.

    Attributes:
        steps: gradient steps (`LIMITS.steps`: 1-2,000).
        step_size: step length; the gradient is normalized to RMS 1 per pixel and the image kept
            at per-image std 1, so this is the fraction of the image's spread moved per step.
        wavelength: longest scale in px of the long-range starting noise (1-256, at most the
            image side is used; 1 is close to per-pixel noise).
        octaves: scales mixed in the starting noise, each half the previous.
        init: "long_range" (smooth noise, article VII) or "pixel" (per-pixel noise, Chollet).
        blur_every: blur the image every this many steps (0: never); suppresses high frequencies.
        blur_sigma: Gaussian blur width in px (the strength of the high-frequency suppression;
            0-5, truncated at 6 px).
        jitter: roll each image by a random offset of up to this many px before each step.
        tv: weight of the total-variation penalty (mean |neighbour difference|).
        l2: weight of the L2 penalty (mean squared pixel); moot while `restandardize` holds.
        pre_relu: ascend the value before the activation where a layer has one (a map that is
            zero everywhere still has a gradient). The reported objective is always the real,
            post-ReLU one.
        restandardize: rescale each image to mean 0, std 1 after each step (the seed's way),
            in the data's standardized pixel space.
        valid_pixels: keep every pixel, in pixel units, inside the data's range (0-255 for
            MNIST) during the ascent, so the OIP is an image the data could contain. Done by
            projection (clipping after each step): a bounded parameterization (sigmoid/tanh)
            would flatten the gradient of every pixel near a bound, and OIPs push many pixels
            there (black background, full ink). The range then bounds the image and replaces
            `restandardize` (measured on the seed's Conv2D_3: 96% of maps beat the best test
            digit, median 2.7x, against 95% / 2.3x when re-standardizing before clipping).
    """

    steps: int = 200
    step_size: float = 0.2
    wavelength: float = 8.0
    octaves: int = 3
    init: str = "long_range"
    blur_every: int = 2
    blur_sigma: float = 0.4
    jitter: int = 0
    tv: float = 0.0
    l2: float = 0.0
    pre_relu: bool = True
    restandardize: bool = True
    valid_pixels: bool = False

    def __post_init__(self) -> None:
        def integer(name: str, low: int, high: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise OipError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise OipError(f"{name} must be between {low} and {high}, got {value}")

        def number(name: str, low: float, high: float, low_open: bool = False) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise OipError(f"{name} must be a number, got {value!r}")
            if (
                not math.isfinite(value)
                or value < low
                or value > high
                or (low_open and value == low)
            ):
                bound = f"> {low}" if low_open else f">= {low}"
                raise OipError(f"{name} must be {bound} and <= {high}, got {value}")

        integer("steps", int(LIMITS.steps.lo), MAX_STEPS)
        number("step_size", LIMITS.step_size.lo, LIMITS.step_size.hi)
        number("wavelength", LIMITS.wavelength.lo, LIMITS.wavelength.hi)
        integer("octaves", 1, 5)
        if self.init not in INITS:
            raise OipError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        integer("blur_every", 0, MAX_STEPS)
        number("blur_sigma", LIMITS.blur_sigma.lo, LIMITS.blur_sigma.hi)
        integer("jitter", 0, 8)
        number("tv", 0.0, 100.0)
        number("l2", 0.0, 100.0)
        for name in ("pre_relu", "restandardize", "valid_pixels"):
            if not isinstance(getattr(self, name), bool):
                raise OipError(f"{name} must be True or False, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class OipProgress:
    """A frame of a running ascent, given to the progress callback.

    Attributes:
        step: steps done so far (0: the starting images).
        steps: steps requested.
        images: `(n, H, W)` (one channel) or `(n, H, W, C)` float32, model input.
        values: `(n,)` float32, the objective of each image now (post-activation).
        probabilities: `(n, classes)` float32, each image's own class probabilities now.
    """

    step: int
    steps: int
    images: np.ndarray
    values: np.ndarray
    probabilities: np.ndarray


@dataclass(frozen=True)
class OipResult:
    """The OIPs of one run; image `i` maximizes `descriptions[i]` from seed `seeds[i]`.

    Attributes:
        images: `(n, H, W)` (one channel) or `(n, H, W, C)` float32, model input: feed them
            straight back to the model (for the seed: standardized digits).
        history: `(steps_done, n)` float32; row `t` is the objective after `t + 1` steps (the
            real post-ReLU objective). The last row equals `activations`; the others come from
            the ascent's own forward pass (of the jittered image with jitter; to ~0.5% with
            bfloat16 precision).
        activations: `(n,)` float32, the final objective of each image.
        probabilities: `(n, classes)` float32, each OIP's own class probabilities (softmax).
        descriptions: `str(objective)` per image.
        seeds: the starting-noise seed per image.
        stopped: True if the progress callback asked to stop before the last step.
        steps_done: steps actually taken.
        options: the options used.
        objectives: the objective per image.
        initial: `(n,)` float32, the objective of each starting image (float32 evaluation).
    """

    images: np.ndarray
    history: np.ndarray
    activations: np.ndarray
    probabilities: np.ndarray
    descriptions: list[str]
    seeds: list[int]
    stopped: bool
    steps_done: int
    options: AscentOptions
    objectives: list[Objective] = field(default_factory=list)
    initial: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


ProgressCallback = Callable[[OipProgress], bool | None]

#: Arithmetic of the ascent's convolutions: "auto" picks bfloat16 where the CPU has it natively.
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
_NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_has_native_bfloat16() -> bool:
    """True if this CPU computes bfloat16 in hardware (AMX or AVX512-BF16; read from Linux)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    except OSError:
        return False
    return any(flag in flags for flag in _NATIVE_BF16_FLAGS)


class OipEngine:
    """Batched gradient ascent on input images for any objective, traced once.

    Construction reads the model's description, prepares the model's own layers
    (`ExposedForward`), traces the ascent, evaluation and gradient graphs once (fixed input
    signatures, batch `None`) and warms them up. Afterwards `run` never retraces and keeps no
    mutable state, so two threads may run at once.

    The ascent steps run their convolutions in `precision`: with "bfloat16" (the default on
    CPUs with AMX / AVX512-BF16, about 2x faster) gradients agree with float32 to a correlation
    of ~0.997. Runs with jitter always use float32: in bfloat16, rolling an image changes which
    products round which way, and over hundreds of steps an image's result would depend on the
    rest of its batch. Reported values (`OipResult.activations`, `.probabilities`,
    `OipProgress.values`, `evaluate`, `gradient_rms`) are always computed in float32; only the
    in-loop `history` rows (all but the last) come from the ascent's own forward pass.

    Args:
        trained: a trained model (`cnn_core.model.trained.load_trained()`), any the description
            accepts.
        precision: one of `PRECISIONS`.
        variants: models of the same architecture as `trained` (e.g. its checkpoints, one per
            epoch). The batch is then split into `len(variants)` equal, consecutive groups and
            group `g` runs through `variants[g]`: OIPs of many models as one batched run (see
            `run_variants`). `trained` then only gives the description.
        layers: the shown nodes whose units objectives may name (the class logits always);
            default every node. On a graph of a hundred nodes the engine for one node traces
            in a fraction of the time (see `engine_for`).

    Raises:
        OipError: unknown precision, or variants of another architecture.
    """

    def __init__(
        self,
        trained: TrainedModel,
        precision: str = "auto",
        variants: Sequence[TrainedModel] | None = None,
        layers: Sequence[str] | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise OipError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "auto":
            precision = "bfloat16" if cpu_has_native_bfloat16() else "float32"
        self.precision = precision
        self.trained = trained
        self.description: ModelDescription = trained.desc
        desc = self.description
        self.image_shape: tuple[int, int, int] = desc.input_shape
        models = [v.model for v in variants] if variants else [trained.model]
        for variant in variants or []:
            if variant.desc.summary() != desc.summary():
                raise OipError(f"variant {variant.desc.name!r} is not the same architecture")
        self.groups = len(models)
        exact = [ExposedForward(model, desc) for model in models]
        fast = (
            exact
            if precision == "float32"
            else [ExposedForward(model, desc, precision) for model in models]
        )
        # Quantity layout: one column per unit, in this order.
        sizes: dict[tuple[str, str], int] = {}
        covered = None if layers is None else {desc.layer(name).name for name in layers}
        self.layers: tuple[str, ...] = tuple(
            info.name for info in desc.layers if covered is None or info.name in covered
        )
        for info in desc.layers:
            if not info.is_logits and info.name in self.layers:
                sizes[("map" if info.is_maps else "node", info.name)] = info.units
        sizes[("logit", LOGIT)] = desc.num_classes
        self.sizes = sizes
        self._keys = list(sizes)
        self._offsets: dict[tuple[str, str], int] = {}
        total = 0
        for key, size in sizes.items():
            self._offsets[key] = total
            total += size
        self.num_quantities = total
        self._block_columns = [
            (self._offsets[key], self._offsets[key] + sizes[key]) for key in sizes
        ]
        # The ascent's space: y = (pixel - mean) / std of the data; model input = y * a + b.
        pixel_mean, pixel_std = trained.pixel_stats
        norm = desc.normalization
        scale = pixel_std / np.asarray(norm.std, np.float64)
        shift = (pixel_mean - np.asarray(norm.mean, np.float64)) / np.asarray(norm.std, np.float64)
        self._scale = tf.constant(scale.astype(np.float32))
        self._shift = tf.constant(shift.astype(np.float32))
        low, high = trained.pixel_range
        self.y_range = ((low - pixel_mean) / pixel_std, (high - pixel_mean) / pixel_std)

        image = tf.TensorSpec([None, *self.image_shape], tf.float32, name="x")
        weight = tf.TensorSpec([None, total], tf.float32, name="w")
        f32 = tf.TensorSpec([], tf.float32)
        i32 = tf.TensorSpec([], tf.int32)
        b = tf.TensorSpec([], tf.bool)
        signature = [
            image, weight, tf.TensorSpec([None], tf.int64, name="seeds"),
            i32, i32,  # start step, steps in this call
            f32, i32, f32, i32, f32, f32,  # step size, blur every, blur sigma, jitter, tv, l2
            b, b, b,  # ascend before the activation, restandardize, valid pixels
        ]  # fmt: skip
        self._ascend_fns = {
            name: tf.function(
                lambda *a, graph=graph: self._ascend(graph, *a),
                input_signature=signature,
                autograph=False,
            )
            for name, graph in (("fast", fast), ("exact", exact))
        }
        if precision == "float32":
            self._ascend_fns["exact"] = self._ascend_fns["fast"]
        self._ascend_cfs: dict[str, object] = {}
        self._trace_lock = threading.Lock()
        self._evaluate_fn = tf.function(
            lambda x, w: self._evaluate(exact, x, w),
            input_signature=[image, weight],
            autograph=False,
        )
        self._gradient_fn = tf.function(
            lambda x, w, pre: self._gradient_rms(exact, x, w, pre),
            input_signature=[image, weight, b],
            autograph=False,
        )
        self._evaluate_cf = self._evaluate_fn.get_concrete_function()
        self._ascend_fns["gradient"] = self._gradient_fn  # traced on first use too
        last = next(iter(sizes))
        warm = [_objective_for_key(last, 0), ClassLogit(0)] * self.groups
        options = AscentOptions(steps=2, blur_every=1, tv=0.01, valid_pixels=True)
        self._ascend_batch(warm, [0] * len(warm), options, None, 1)
        # `gradient_rms` (benchmarks and tests only; no page asks for it) traces on first use:
        # tracing it here cost every start-up about a third of the engine's build.

    # graph pieces ------------------------------------------------------------------------
    def _needed(self, w: tf.Tensor) -> tf.Tensor:
        """`(blocks,)` bool: which quantity blocks (a layer's maps, nodes, logits) `w` uses."""
        return tf.stack(
            [tf.reduce_any(tf.not_equal(w[:, lo:hi], 0.0)) for lo, hi in self._block_columns]
        )

    def _run_graphs(
        self, graphs: list[ExposedForward], x: tf.Tensor
    ) -> tuple[dict[str, tf.Tensor], dict[str, Callable[[], tf.Tensor] | None], tf.Tensor]:
        """One model's layers on the whole batch, or each variant's on its group of images."""
        if len(graphs) == 1:
            return graphs[0](x)
        parts = [graph(xg) for graph, xg in zip(graphs, tf.split(x, len(graphs)), strict=True)]
        outputs = {name: tf.concat([p[0][name] for p in parts], 0) for name in parts[0][0]}
        pres: dict[str, Callable[[], tf.Tensor] | None] = {}
        for name, first in parts[0][1].items():
            fns = [p[1][name] for p in parts]
            pres[name] = (
                None if first is None else (lambda fns=fns: tf.concat([f() for f in fns], 0))
            )
        return outputs, pres, tf.concat([p[2] for p in parts], 0)

    def _forward(
        self, graph: list[ExposedForward], x: tf.Tensor, needed: tf.Tensor, pre: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The quantities to ascend and the real ones, and the logits.

        Args:
            graph: the model's layers (float32, or bfloat16 convolutions), one per variant.
            x: `(N, H, W, C)` float32 model input.
            needed: `(blocks,)` bool from `_needed`; an unused block is not computed (zeros)
                and no gradient flows back from it.
            pre: scalar bool, ascend the values before the activations where they exist.

        Returns:
            `(N, Q)` float32 ascended quantities, `(N, Q)` float32 real (post-activation)
            quantities, `(N, classes)` float32 logits.
        """
        n = tf.shape(x)[0]
        outputs, pres, logits = self._run_graphs(graph, x)
        surrogate: list[tf.Tensor] = []
        real: list[tf.Tensor] = []
        for block, (kind, name) in enumerate(self._keys):
            size = self.sizes[(kind, name)]
            zeros = lambda size=size: tf.zeros([n, size])  # noqa: E731
            if kind == "logit":
                real_q = tf.cond(needed[block], lambda: logits, zeros)
                real.append(real_q)
                surrogate.append(real_q)
                continue
            reduce = _spatial_mean if kind == "map" else _identity
            real_q = tf.cond(needed[block], lambda t=outputs[name], r=reduce: r(t), zeros)
            real.append(real_q)
            pre_value = pres[name]
            if pre_value is None:
                surrogate.append(real_q)
            else:
                surrogate.append(
                    tf.cond(
                        pre,
                        lambda b=block, f=pre_value, r=reduce, z=zeros: tf.cond(
                            needed[b], lambda: r(f()), z
                        ),
                        lambda q=real_q: q,
                    )
                )
        return tf.concat(surrogate, axis=1), tf.concat(real, axis=1), logits

    def _ascent_graph(self, name: str):
        """The traced ascent ("fast" or "exact" precision) or the "gradient" graph, traced on
        first use (thread-safe): runs with jitter need the float32 ascent, which on most
        machines is the fast one too."""
        with self._trace_lock:
            if name not in self._ascend_cfs:
                self._ascend_cfs[name] = self._ascend_fns[name].get_concrete_function()
            return self._ascend_cfs[name]

    def _to_model(self, y: tf.Tensor) -> tf.Tensor:
        return y * self._scale + self._shift

    # The traced bodies use TensorFlow's control flow (tf.cond, tf.while_loop) themselves, so
    # they are traced with autograph=False: converting the graph walk and every Keras layer's
    # Python took most of an engine's build on a 150-layer model.
    def _ascend(
        self, graph, y, w, seeds, start, count, step_size, blur_every, blur_sigma, jitter, tv, l2,
        pre, restandardize, valid,
    ):  # fmt: skip
        n = tf.shape(y)[0]
        needed = self._needed(w)
        values = tf.TensorArray(tf.float32, size=count, element_shape=[None])
        y_low, y_high = (tf.constant(v, tf.float32) for v in self.y_range)

        def offsets(step: tf.Tensor, axis: int) -> tf.Tensor:
            h = tf.math.floormod(
                seeds * 2_654_435 + tf.cast(step, tf.int64) * 40_503 + axis, _SEED_LIMIT
            )
            for _ in range(3):
                h = tf.math.floormod(h * _MINSTD, _SEED_LIMIT)
            span = tf.cast(2 * jitter + 1, tf.int64)
            return tf.cast(tf.math.floormod(h, span), tf.int32) - jitter

        def project(y: tf.Tensor) -> tf.Tensor:
            # Valid pixels bound the image by the data's range instead of re-standardizing.
            return tf.cond(
                valid,
                lambda: tf.clip_by_value(y, y_low, y_high),
                lambda: tf.cond(restandardize, lambda: tf_standardize_each(y), lambda: y),
            )

        def body(i, y, values):
            step = start + i
            # Blur at the start of a step, so the last step always ends with a gradient step.
            blur_now = tf.logical_and(
                tf.logical_and(blur_every > 0, blur_sigma > 0),
                tf.logical_and(step > 0, tf.math.floormod(step, tf.maximum(blur_every, 1)) == 0),
            )
            y = tf.cond(blur_now, lambda: project(tf_gaussian_blur(y, blur_sigma)), lambda: y)
            with tf.GradientTape() as tape:
                tape.watch(y)
                seen = tf.cond(
                    jitter > 0,
                    lambda: tf_roll_each(y, offsets(step, 0), offsets(step, 1)),
                    lambda: y,
                )
                q_ascend, q_real, _ = self._forward(graph, self._to_model(seen), needed, pre)
                real = tf.reduce_sum(w * q_real, axis=1)
                surrogate = tf.reduce_sum(w * q_ascend, axis=1)
                penalty = tf.cond(  # its gradient costs ~15% of a step: only when asked for
                    tf.logical_or(tv > 0, l2 > 0),
                    lambda: (
                        tv * tf_total_variation(y)
                        + l2 * tf.reduce_mean(tf.square(y), axis=[1, 2, 3])
                    ),
                    lambda: tf.zeros([n]),
                )
                total = tf.reduce_sum(surrogate - penalty)
            grad = tape.gradient(total, y)
            rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=[1, 2, 3], keepdims=True))
            # The guard against a zero gradient: 1e-8 for ordinary gradients (the seed's
            # figures), but a unit whose values are ~1e-10 (an untrained deep network) has a
            # gradient RMS far below 1e-8 and would never move, so there it only guards zero.
            eps = tf.where(rms > 1e-6, 1e-8, 1e-30)
            y = project(y + step_size * grad / (rms + eps))
            y = tf.ensure_shape(y, [None, *self.image_shape])
            return i + 1, y, values.write(i, real)

        _, y, values = tf.while_loop(
            lambda i, *_: i < count, body, [tf.constant(0), y, values], parallel_iterations=1
        )
        real_values = tf.reshape(values.stack(), [count, n])
        return y, real_values

    def _evaluate(self, graph, x, w):
        every_block = tf.ones([len(self._block_columns)], tf.bool)
        _, q_real, logits = self._forward(graph, x, every_block, tf.constant(False))
        return tf.reduce_sum(w * q_real, axis=1), tf.nn.softmax(logits)

    def _gradient_rms(self, graph, x, w, pre):
        with tf.GradientTape() as tape:
            tape.watch(x)
            q_ascend, _, _ = self._forward(graph, x, self._needed(w), pre)
            total = tf.reduce_sum(w * q_ascend)
        grad = tape.gradient(total, x)
        return tf.sqrt(tf.reduce_mean(tf.square(grad), axis=[1, 2, 3]))

    # public ------------------------------------------------------------------------------
    def weights_for(self, objectives: Sequence[Objective]) -> np.ndarray:
        """`(len(objectives), Q)` float32 weights of the quantities, one row per objective.

        Raises:
            OipError: not an `Objective`, or a unit beyond its layer's size.
        """
        matrix = np.zeros((len(objectives), self.num_quantities), np.float32)
        for row, objective in enumerate(objectives):
            if not isinstance(objective, Objective):
                raise OipError(f"not an objective: {objective!r}")
            for coef, term in objective.terms:
                key = (term.kind, term.layer)
                if key not in self.sizes:
                    raise OipError(self._unknown_term(term.kind, term.layer))
                _check_unit(term, self.sizes[key])
                matrix[row, self._offsets[key] + term.unit] += coef
        return matrix

    def _unknown_term(self, kind: str, layer: str) -> str:
        desc = self.description
        if kind == "node" and layer == desc.logits_layer:
            return (
                f"{layer} nodes are class scores; maximize the pre-softmax score with "
                "ClassLogit(k) instead"
            )
        if layer in desc.names and layer not in self.layers:
            return (
                f"this engine was built for {', '.join(self.layers)}; build one for {layer!r} "
                "(engine_for(trained, layer))"
            )
        if kind == "map":
            maps = ", ".join(desc.map_layers) or "none"
            return f"MapMean needs a map layer of this model ({maps}), got {layer!r}"
        hidden = ", ".join(desc.hidden_node_layers) or "none"
        return f"Node needs a node layer of this model ({hidden}), got {layer!r}"

    def _as_batch(self, images: np.ndarray) -> np.ndarray:
        """`(n, H, W)` / `(n, H, W, C)` model input -> `(n, H, W, C)` float32."""
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 3 and self.image_shape[2] == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[1:] != self.image_shape:
            raise OipError(
                f"expected (n, {', '.join(map(str, self.image_shape))}) model-input images, "
                f"got shape {x.shape}"
            )
        return x

    def _images_out(self, y: tf.Tensor) -> np.ndarray:
        """Ascent images `(n, H, W, C)` -> model input, `(n, H, W)` for one channel."""
        x = self._to_model(y).numpy()
        return x[..., 0] if self.image_shape[2] == 1 else x

    def evaluate(
        self, objectives: Sequence[Objective], images: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Real (post-activation) objective values and class probabilities of given images.

        Args:
            objectives: one per image.
            images: `(n, H, W)` (one channel) or `(n, H, W, C)` float32 model input.

        Returns:
            `(n,)` float32 values and `(n, classes)` float32 probabilities.
        """
        x = self._as_batch(images)
        w = self.weights_for(objectives)
        _check_pairs(w, x)
        values, proba = self._evaluate_cf(tf.constant(x), tf.constant(w))
        return values.numpy(), proba.numpy()

    def gradient_rms(
        self, objectives: Sequence[Objective], images: np.ndarray, pre_relu: bool = False
    ) -> np.ndarray:
        """`(n,)` float32 RMS of each objective's gradient w.r.t. its image (0: a dead start).

        Args:
            objectives: one per image.
            images: `(n, H, W)` or `(n, H, W, C)` float32 model input.
            pre_relu: the gradient of the pre-activation surrogate instead of the real objective.
        """
        x = self._as_batch(images)
        w = self.weights_for(objectives)
        _check_pairs(w, x)
        return self._ascent_graph("gradient")(
            tf.constant(x), tf.constant(w), tf.constant(bool(pre_relu))
        ).numpy()

    def run(
        self,
        objectives: Sequence[Objective],
        seeds: Sequence[int],
        options: AscentOptions = AscentOptions(),
        callback: ProgressCallback | None = None,
        every: int = 5,
    ) -> OipResult:
        """Optimize one image per (objective, seed) pair, all as one batch.

        Images are ordered objective-major: for 2 objectives and seeds `[0, 1]` the batch is
        `(obj0, 0), (obj0, 1), (obj1, 0), (obj1, 1)`. Equal seeds give equal starting images, and
        an image's result does not depend on the rest of the batch.

        Args:
            objectives: what to maximize (`MapMean`, `Node`, `ClassLogit` or a combination).
            seeds: starting-noise seeds, 0 to 2**31 - 2.
            options: the ascent's settings.
            callback: called with an `OipProgress` at step 0, every `every` steps and at the
                end; if it returns True the loop stops there and `result.stopped` is True.
            every: steps between callbacks (>= 1).

        Returns:
            The `OipResult`.

        Raises:
            OipError: bad objectives, seeds, options or `every`.
        """
        if not isinstance(options, AscentOptions):
            raise OipError(f"options must be AscentOptions, got {type(options).__name__}")
        objectives, seeds = list(objectives), [_check_seed(s) for s in seeds]
        if not objectives or not seeds:
            raise OipError("need at least one objective and one seed")
        if len(objectives) * len(seeds) > MAX_BATCH:
            raise OipError(
                f"{len(objectives)} objectives x {len(seeds)} seeds is more than {MAX_BATCH} images"
            )
        if self.groups > 1:
            raise OipError("an engine of several variants runs with run_variants")
        pairs = [(o, s) for o in range(len(objectives)) for s in seeds]
        return self._ascend_batch(
            [objectives[o] for o, _ in pairs], [s for _, s in pairs], options, callback, every
        )

    def run_variants(
        self,
        objectives: Sequence[Objective],
        seed: int = 0,
        options: AscentOptions = AscentOptions(),
        callback: ProgressCallback | None = None,
        every: int = 5,
    ) -> OipResult:
        """Optimize each objective in each variant (see `variants`), all as one batch.

        Images are ordered variant-major: image `g * len(objectives) + i` is objective `i` in
        variant `g`; every image starts from the same noise (`seed`), so the variants' OIPs of
        a unit differ only by the variants' weights.

        Returns:
            The `OipResult` (`len(variants) * len(objectives)` images).

        Raises:
            OipError: bad objectives, seed, options, or more than `MAX_BATCH` images.
        """
        objectives, seed = list(objectives), _check_seed(seed)
        if not objectives:
            raise OipError("need at least one objective")
        if self.groups * len(objectives) > MAX_BATCH:
            raise OipError(
                f"{self.groups} variants x {len(objectives)} objectives is more than {MAX_BATCH}"
            )
        per_image = objectives * self.groups
        return self._ascend_batch(per_image, [seed] * len(per_image), options, callback, every)

    def _ascend_batch(
        self,
        objectives: list[Objective],
        pair_seeds: list[int],
        options: AscentOptions,
        callback: ProgressCallback | None,
        every: int,
    ) -> OipResult:
        """Ascend image `i` for `objectives[i]` from seed `pair_seeds[i]`, as one batch."""
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise OipError(f"every must be an integer >= 1, got {every!r}")
        w = self.weights_for(objectives)
        x = starting_images(
            pair_seeds, options.init, options.wavelength, options.octaves, self.image_shape
        )

        w_t, seeds_t = tf.constant(w), tf.constant(pair_seeds, dtype=tf.int64)
        constants = (
            tf.constant(float(options.step_size)),
            tf.constant(options.blur_every),
            tf.constant(float(options.blur_sigma)),
            tf.constant(options.jitter),
            tf.constant(float(options.tv)),
            tf.constant(float(options.l2)),
            tf.constant(options.pre_relu),
            tf.constant(options.restandardize),
            tf.constant(options.valid_pixels),
        )
        ascend = self._ascent_graph("exact" if options.jitter > 0 else "fast")
        history: list[np.ndarray] = []
        done, stopped = 0, False
        y_t = tf.constant(x)
        if options.valid_pixels:
            y_t = tf.clip_by_value(y_t, *self.y_range)

        def evaluate() -> tuple[np.ndarray, np.ndarray]:
            values, proba = self._evaluate_cf(self._to_model(y_t), w_t)
            return values.numpy(), proba.numpy()

        def report(values: np.ndarray, proba: np.ndarray) -> bool:
            frame = OipProgress(done, options.steps, self._images_out(y_t), values, proba)
            return bool(callback(frame)) if callback is not None else False

        initial, proba = evaluate()
        if callback is not None:
            stopped = report(initial, proba)
        chunk = every if callback is not None else options.steps
        while not stopped and done < options.steps:
            count = min(chunk, options.steps - done)
            y_t, chunk_values = ascend(
                y_t, w_t, seeds_t, tf.constant(done), tf.constant(count), *constants
            )
            history.append(chunk_values.numpy())
            done += count
            if callback is not None:
                values, proba = evaluate()
                stopped = report(values, proba) and done < options.steps
        final_values, final_proba = evaluate()
        # The loop records each step's objective before its update: shift by one step.
        before = np.concatenate([*history, final_values[None]]).astype(np.float32)
        images = self._images_out(y_t)
        return OipResult(
            images=images,
            history=before[1:],
            activations=final_values.astype(np.float32),
            probabilities=final_proba.astype(np.float32),
            descriptions=[str(objective) for objective in objectives],
            seeds=pair_seeds,
            stopped=stopped,
            steps_done=done,
            options=options,
            objectives=list(objectives),
            initial=initial.astype(np.float32),
        )

    def tracing_count(self) -> int:
        """How many times the ascent graphs were traced (1 per precision used, for the engine's
        whole life)."""
        ascents = {fn for name, fn in self._ascend_fns.items() if name != "gradient"}
        return sum(fn.experimental_get_tracing_count() for fn in ascents)


def _check_pairs(w: np.ndarray, x: np.ndarray) -> None:
    if len(w) != len(x):
        raise OipError(f"{len(w)} objectives for {len(x)} images: need one per image")


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise OipError(f"seed must be an integer, got {seed!r}")
    if not 0 <= seed < _SEED_LIMIT:
        raise OipError(f"seed must be between 0 and {_SEED_LIMIT - 1}, got {seed}")
    return int(seed)


#: Engines of single nodes kept per process for larger models (least recently used dropped).
MAX_NODE_ENGINES = 4

_ENGINES: OrderedDict[tuple[int, str | None], OipEngine] = OrderedDict()
_ENGINES_LOCK = threading.Lock()


def engine_for(trained: TrainedModel, layer: str | None = None) -> OipEngine:
    """The process's engine for `trained`, built on first use (building traces the graphs).

    A model of up to `config.SMALL_MODEL_NODES` shown nodes has one engine for every node, whatever
    `layer` says. A larger one gets an engine per `layer` (its units and the class logits:
    MobileNetV2 traces in seconds instead of tens of seconds), at most `MAX_NODE_ENGINES` kept;
    `layer=None` asks for every node.

    Raises:
        UnknownLayerError: `layer` is not a shown node of the model.
    """
    desc = trained.desc
    if layer is not None:
        layer = desc.layer(layer).name
    if len(desc.layers) <= config.SMALL_MODEL_NODES:
        layer = None
    key = (id(trained), layer)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None or engine.trained is not trained:
            layers = None if layer is None else [layer]
            engine = _ENGINES[key] = OipEngine(trained, layers=layers)
            while sum(k[1] is not None for k in _ENGINES) > MAX_NODE_ENGINES:
                oldest = next(k for k in _ENGINES if k[1] is not None)
                del _ENGINES[oldest]
        _ENGINES.move_to_end(key)
        return engine


def _spatial_mean(t: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.reduce_mean(t, axis=[1, 2]), tf.float32)


def _identity(t: tf.Tensor) -> tf.Tensor:
    return tf.cast(t, tf.float32)


def _objective_for_key(key: tuple[str, str], unit: int) -> Objective:
    kind, layer = key
    if kind == "map":
        return MapMean(layer, unit)
    if kind == "node":
        return Node(layer, unit)
    return ClassLogit(unit)


def objectives_for(
    layer: str, units: Sequence[int] | str, desc: ModelDescription
) -> list[Objective]:
    """One objective per unit of `layer` of the model `desc` describes: `MapMean` (map
    layers), `Node` (hidden node layers) or `ClassLogit` (the logits layer); `units="all"`
    takes every unit. Checked against the description alone, so a bad request is refused
    before an engine is built (building one traces its graphs: seconds).

    Raises:
        OipError: unknown layer, bad units (not integers, none, or beyond the layer's size).
    """
    if layer not in desc.names:
        raise OipError(f"unknown layer {layer!r}; choose one of {', '.join(desc.names)}")
    info = desc.layer(layer)
    key = ("logit", LOGIT) if info.is_logits else ("map" if info.is_maps else "node", layer)
    size = desc.num_classes if info.is_logits else info.units
    if isinstance(units, str):
        if units != "all":
            raise OipError(f"units must be a list of integers or 'all', got {units!r}")
        units = range(size)
    objectives = [_objective_for_key(key, u) for u in units]
    if not objectives:
        raise OipError("no units given")
    for objective in objectives:
        for _, term in objective.terms:
            _check_unit(term, size)
    return objectives


def _check_unit(term: Term, size: int) -> None:
    """Raise `OipError` naming the layer's range if `term`'s unit is not below `size`."""
    if term.unit >= size:
        what = "class" if term.kind == "logit" else f"{term.layer} {term.kind}"
        raise OipError(f"{what} {term.unit} does not exist: choose 0-{size - 1}")


def optimize_maps(
    trained: TrainedModel,
    layer: str,
    units: Sequence[int] | str,
    steps: int = AscentOptions.steps,
    seed: int = 0,
    callback: ProgressCallback | None = None,
    every: int = 5,
    **options: object,
) -> OipResult:
    """OIPs of many units of one layer, one batch, from the same seed.

    Args:
        trained: the trained CNN (the engine is built once per process and reused).
        layer: any shown layer of the model; map layers get `MapMean`, hidden node layers
            `Node`, the logits layer `ClassLogit`.
        units: unit indices, or "all".
        steps: gradient steps.
        seed: starting-noise seed (every unit starts from the same noise).
        callback, every: progress, as in `OipEngine.run`.
        **options: any other `AscentOptions` field.

    Returns:
        `OipResult` with `(len(units), H, W)` (one channel) or `(len(units), H, W, C)` float32
        images in model-input space.

    Raises:
        OipError: unknown layer or option, unit out of range, bad steps.
    """
    known = {f.name for f in dataclasses.fields(AscentOptions)} - {"steps"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise OipError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = AscentOptions(steps=steps, **options)  # type: ignore[arg-type]
    objectives = objectives_for(layer, units, trained.desc)  # checked before the engine's build
    return engine_for(trained, layer).run(objectives, [seed], opts, callback, every)
