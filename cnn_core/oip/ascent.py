"""The gradient-ascent loop: many OIPs as one batch in one traced graph, with progress and stop.

Every objective is a linear combination, per image, of per-unit quantities (the spatial mean of
each map of each conv/pool layer, before and after its ReLU; each Flatten and Dense_1 node; each
class logit). The engine runs its own forward pass from the trained layers' weights, computes
all quantities at once and weights them with a per-image matrix fed as a tensor. So one
`tf.function`, traced at construction with a fixed input signature (batch dimension `None`),
serves every objective and batch size: `OipEngine.run` never retraces.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from cnn_core import config
from cnn_core.model import TrainedModel
from cnn_core.oip.init import INITS, starting_images
from cnn_core.oip.objectives import (
    LOGIT,
    NODE_OBJECTIVE_LAYERS,
    ClassLogit,
    MapMean,
    Node,
    Objective,
    OipError,
)
from cnn_core.oip.transforms import (
    tf_gaussian_blur,
    tf_roll_each,
    tf_standardize_each,
    tf_total_variation,
)

#: Most images one `run` optimizes at once (memory: about 0.5 MB of activations per image).
MAX_BATCH = 1024
MAX_STEPS = 10_000
_SEED_LIMIT = 2**31 - 1
_MINSTD = 48_271  # Lehmer generator multiplier: per-image jitter offsets from (seed, step)


@dataclass(frozen=True)
class AscentOptions:
    """How to ascend. The defaults give every Conv2D_3 map an OIP above the best test digit.

    Attributes:
        steps: gradient steps (1-10,000).
        step_size: step length; the gradient is normalized to RMS 1 per pixel and the image kept
            at per-image std 1, so this is the fraction of the image's spread moved per step.
        wavelength: longest scale in px of the long-range starting noise (1-28; 1 is close
            to per-pixel noise).
        octaves: scales mixed in the starting noise, each half the previous.
        init: "long_range" (smooth noise, article VII) or "pixel" (per-pixel noise, Chollet).
        blur_every: blur the image every this many steps (0: never); suppresses high frequencies.
        blur_sigma: Gaussian blur width in px (the strength of the high-frequency suppression;
            0-5, truncated at 6 px).
        jitter: roll each image by a random offset of up to this many px before each step.
        tv: weight of the total-variation penalty (mean |neighbour difference|).
        l2: weight of the L2 penalty (mean squared pixel); moot while `restandardize` holds.
        pre_relu: ascend the maps' and Dense_1 nodes' values before the ReLU (a map that is
            zero everywhere still has a gradient). The reported objective is always the real,
            post-ReLU one.
        restandardize: rescale each image to mean 0, std 1 after each step (the seed's way).
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

        integer("steps", 1, MAX_STEPS)
        number("step_size", 0.0, 10.0, low_open=True)
        number("wavelength", 1.0, 28.0)
        integer("octaves", 1, 5)
        if self.init not in INITS:
            raise OipError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        integer("blur_every", 0, MAX_STEPS)
        number("blur_sigma", 0.0, 5.0)
        integer("jitter", 0, 8)
        number("tv", 0.0, 100.0)
        number("l2", 0.0, 100.0)
        for name in ("pre_relu", "restandardize"):
            if not isinstance(getattr(self, name), bool):
                raise OipError(f"{name} must be True or False, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class OipProgress:
    """A frame of a running ascent, given to the progress callback.

    Attributes:
        step: steps done so far (0: the starting images).
        steps: steps requested.
        images: `(n, 28, 28)` float32, standardized (the model's input space).
        values: `(n,)` float32, the objective of each image now (post-ReLU).
        probabilities: `(n, 10)` float32, each image's own class probabilities now.
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
        images: `(n, 28, 28)` float32, standardized: feed them straight back to the model.
        history: `(steps_done, n)` float32; row `t` is the objective after `t + 1` steps (the
            real post-ReLU objective). The last row equals `activations`; the others come from
            the ascent's own forward pass (of the jittered image with jitter; to ~0.5% with
            bfloat16 precision).
        activations: `(n,)` float32, the final objective of each image.
        probabilities: `(n, 10)` float32, each OIP's own class probabilities (softmax).
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

    Construction copies the trained weights into constants, traces the ascent, evaluation and
    gradient graphs once (fixed input signatures, batch `None`) and warms them up. Afterwards
    `run` never retraces and keeps no mutable state, so two threads may run at once.

    The ascent steps run their convolutions in `precision`: with "bfloat16" (the default on
    CPUs with AMX / AVX512-BF16, about 2-3x faster) gradients agree with float32 to a
    correlation of ~0.997. Reported values (`OipResult.activations`, `.probabilities`,
    `OipProgress.values`, `evaluate`, `gradient_rms`) are always computed in float32; only the
    in-loop `history` rows (all but the last) come from the ascent's own forward pass.

    Args:
        trained: a trained seed CNN (`cnn_core.model.load_trained()`).
        precision: one of `PRECISIONS`.

    Raises:
        OipError: unknown precision.
    """

    def __init__(self, trained: TrainedModel, precision: str = "auto") -> None:
        if precision not in PRECISIONS:
            raise OipError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "auto":
            precision = "bfloat16" if cpu_has_native_bfloat16() else "float32"
        self.precision = precision
        self.trained = trained
        model = trained.model
        weights = {name: model.get_layer(name).get_weights() for name in config.LAYER_NAMES}
        self._conv = {
            dtype: [
                (tf.constant(weights[name][0], dtype), tf.constant(weights[name][1], dtype))
                for name in ("Conv2D_1", "Conv2D_2", "Conv2D_3")
            ]
            for dtype in {tf.float32, tf.as_dtype(precision)}
        }
        self._ascent_dtype = tf.as_dtype(precision)
        self._dense1 = tuple(tf.constant(w) for w in weights["Dense_1"])
        self._dense2 = tuple(tf.constant(w) for w in weights["Dense_2"])
        # Quantity layout: one column per unit, in this order.
        sizes: dict[tuple[str, str], int] = {}
        for name in config.MAP_LAYERS:
            sizes[("map", name)] = int(model.get_layer(name).output.shape[-1])
        for name in NODE_OBJECTIVE_LAYERS:
            sizes[("node", name)] = int(np.prod(model.get_layer(name).output.shape[1:]))
        sizes[("logit", LOGIT)] = int(model.get_layer(config.LAYER_NAMES[-1]).output.shape[-1])
        self.sizes = sizes
        self._offsets: dict[tuple[str, str], int] = {}
        total = 0
        for key, size in sizes.items():
            self._offsets[key] = total
            total += size
        self.num_quantities = total
        self._block_columns = [
            (self._offsets[key], self._offsets[key] + sizes[key]) for key in sizes
        ]

        image = tf.TensorSpec([None, 28, 28, 1], tf.float32, name="x")
        weight = tf.TensorSpec([None, total], tf.float32, name="w")
        f32 = tf.TensorSpec([], tf.float32)
        i32 = tf.TensorSpec([], tf.int32)
        self._ascend_fn = tf.function(
            self._ascend,
            input_signature=[
                image,
                weight,
                tf.TensorSpec([None], tf.int64, name="seeds"),
                i32,  # start step
                i32,  # steps in this call
                f32,  # step size
                i32,  # blur every
                f32,  # blur sigma
                i32,  # jitter
                f32,  # tv
                f32,  # l2
                tf.TensorSpec([], tf.bool),  # ascend before the ReLU
                tf.TensorSpec([], tf.bool),  # restandardize
            ],
        )
        self._evaluate_fn = tf.function(self._evaluate, input_signature=[image, weight])
        self._gradient_fn = tf.function(
            self._gradient_rms, input_signature=[image, weight, tf.TensorSpec([], tf.bool)]
        )
        self._ascend_cf = self._ascend_fn.get_concrete_function()
        self._evaluate_cf = self._evaluate_fn.get_concrete_function()
        self._gradient_cf = self._gradient_fn.get_concrete_function()
        warm = [MapMean("Conv2D_3", 0), ClassLogit(0)]
        self.run(warm, [0], AscentOptions(steps=2, blur_every=1, jitter=1, tv=0.01), every=1)
        self.gradient_rms(warm, np.zeros((2, 28, 28), np.float32))

    # graph pieces ------------------------------------------------------------------------
    def _needed(self, w: tf.Tensor) -> tf.Tensor:
        """`(blocks,)` bool: which quantity blocks (a layer's maps, nodes, logits) `w` uses."""
        return tf.stack(
            [tf.reduce_any(tf.not_equal(w[:, lo:hi], 0.0)) for lo, hi in self._block_columns]
        )

    def _forward(
        self,
        x: tf.Tensor,
        needed: tf.Tensor,
        pre: tf.Tensor,
        dtype: tf.DType = tf.float32,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The quantities to ascend and the real ones, and the logits.

        Args:
            x: `(N, 28, 28, 1)` float32 images.
            needed: `(blocks,)` bool from `_needed`; an unused block is not computed (zeros),
                which spares the big early maps' means and their gradients.
            pre: scalar bool, ascend the values before the ReLUs.
            dtype: the convolutions' arithmetic; means, dense layers and logits are float32.

        Returns:
            `(N, Q)` float32 ascended quantities, `(N, Q)` float32 real (post-ReLU) quantities,
            `(N, 10)` float32 logits (zeros unless a node/logit block is needed).
        """
        n = tf.shape(x)[0]
        surrogate: list[tf.Tensor] = []
        real: list[tf.Tensor] = []

        def mean(t: tf.Tensor) -> tf.Tensor:
            return tf.cast(tf.reduce_mean(t, axis=[1, 2]), tf.float32)

        def add_block(block: int, post_fn, pre_fn) -> None:
            size = self._block_columns[block][1] - self._block_columns[block][0]
            zeros = lambda: tf.zeros([n, size])  # noqa: E731
            real_q = tf.cond(needed[block], post_fn, zeros)
            real.append(real_q)
            surrogate.append(
                tf.cond(pre, lambda: tf.cond(needed[block], pre_fn, zeros), lambda: real_q)
            )

        h = tf.cast(x, dtype)
        block = 0
        for i, (kernel, bias) in enumerate(self._conv[dtype]):
            z = tf.nn.conv2d(h, kernel, 1, "VALID") + bias
            h = tf.nn.relu(z)
            add_block(block, lambda h=h: mean(h), lambda z=z: mean(z))
            block += 1
            if i < 2:  # max-pool commutes with the ReLU: pool(relu(z)) = relu(pool(z))
                h = tf.nn.max_pool2d(h, 2, 2, "VALID")
                add_block(
                    block,
                    lambda h=h: mean(h),
                    lambda z=z: mean(tf.nn.max_pool2d(z, 2, 2, "VALID")),
                )
                block += 1
        flat = tf.cast(tf.reshape(h, [n, -1]), tf.float32)
        flat_pre = tf.cast(tf.reshape(z, [n, -1]), tf.float32)
        real.append(flat)
        surrogate.append(tf.cond(pre, lambda: flat_pre, lambda: flat))
        units, classes = self.sizes[("node", "Dense_1")], self.sizes[("logit", LOGIT)]

        def head() -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            d1_pre = tf.matmul(flat, self._dense1[0]) + self._dense1[1]
            d1 = tf.nn.relu(d1_pre)
            return d1_pre, d1, tf.matmul(d1, self._dense2[0]) + self._dense2[1]

        d1_pre, d1, logits = tf.cond(
            tf.logical_or(needed[block + 1], needed[block + 2]),
            head,
            lambda: (tf.zeros([n, units]), tf.zeros([n, units]), tf.zeros([n, classes])),
        )
        real += [d1, logits]
        surrogate += [tf.cond(pre, lambda: d1_pre, lambda: d1), logits]
        return tf.concat(surrogate, axis=1), tf.concat(real, axis=1), logits

    def _ascend(
        self, x, w, seeds, start, count, step_size, blur_every, blur_sigma, jitter, tv, l2, pre,
        restandardize,
    ):  # fmt: skip
        n = tf.shape(x)[0]
        needed = self._needed(w)
        values = tf.TensorArray(tf.float32, size=count, element_shape=[None])

        def offsets(step: tf.Tensor, axis: int) -> tf.Tensor:
            h = tf.math.floormod(
                seeds * 2_654_435 + tf.cast(step, tf.int64) * 40_503 + axis, _SEED_LIMIT
            )
            for _ in range(3):
                h = tf.math.floormod(h * _MINSTD, _SEED_LIMIT)
            span = tf.cast(2 * jitter + 1, tf.int64)
            return tf.cast(tf.math.floormod(h, span), tf.int32) - jitter

        def body(i, x, values):
            step = start + i
            # Blur at the start of a step, so the last step always ends with a gradient step.
            blur_now = tf.logical_and(
                tf.logical_and(blur_every > 0, blur_sigma > 0),
                tf.logical_and(step > 0, tf.math.floormod(step, tf.maximum(blur_every, 1)) == 0),
            )
            x = tf.cond(blur_now, lambda: tf_gaussian_blur(x, blur_sigma), lambda: x)
            x = tf.cond(
                tf.logical_and(blur_now, restandardize), lambda: tf_standardize_each(x), lambda: x
            )
            with tf.GradientTape() as tape:
                tape.watch(x)
                seen = tf.cond(
                    jitter > 0,
                    lambda: tf_roll_each(x, offsets(step, 0), offsets(step, 1)),
                    lambda: x,
                )
                q_ascend, q_real, _ = self._forward(seen, needed, pre, self._ascent_dtype)
                real = tf.reduce_sum(w * q_real, axis=1)
                surrogate = tf.reduce_sum(w * q_ascend, axis=1)
                penalty = tf.cond(  # its gradient costs ~15% of a step: only when asked for
                    tf.logical_or(tv > 0, l2 > 0),
                    lambda: (
                        tv * tf_total_variation(x)
                        + l2 * tf.reduce_mean(tf.square(x), axis=[1, 2, 3])
                    ),
                    lambda: tf.zeros([n]),
                )
                total = tf.reduce_sum(surrogate - penalty)
            grad = tape.gradient(total, x)
            rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=[1, 2, 3], keepdims=True))
            x = x + step_size * grad / (rms + 1e-8)
            x = tf.cond(restandardize, lambda: tf_standardize_each(x), lambda: x)
            x = tf.ensure_shape(x, [None, 28, 28, 1])
            return i + 1, x, values.write(i, real)

        _, x, values = tf.while_loop(
            lambda i, *_: i < count, body, [tf.constant(0), x, values], parallel_iterations=1
        )
        real_values = tf.reshape(values.stack(), [count, n])
        return x, real_values

    def _evaluate(self, x, w):
        every_block = tf.ones([len(self._block_columns)], tf.bool)
        _, q_real, logits = self._forward(x, every_block, tf.constant(False))
        return tf.reduce_sum(w * q_real, axis=1), tf.nn.softmax(logits)

    def _gradient_rms(self, x, w, pre):
        with tf.GradientTape() as tape:
            tape.watch(x)
            q_ascend, _, _ = self._forward(x, self._needed(w), pre)
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
                size = self.sizes[key]
                if term.unit >= size:
                    what = "class" if term.kind == "logit" else f"{term.layer} {term.kind}"
                    raise OipError(f"{what} {term.unit} does not exist: choose 0-{size - 1}")
                matrix[row, self._offsets[key] + term.unit] += coef
        return matrix

    def evaluate(
        self, objectives: Sequence[Objective], images: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Real (post-ReLU) objective values and class probabilities of given images.

        Args:
            objectives: one per image.
            images: `(n, 28, 28)` or `(n, 28, 28, 1)` float32, standardized.

        Returns:
            `(n,)` float32 values and `(n, 10)` float32 probabilities.
        """
        x = _as_batch(images)
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
            images: `(n, 28, 28)` float32, standardized.
            pre_relu: the gradient of the pre-ReLU surrogate instead of the real objective.
        """
        x = _as_batch(images)
        w = self.weights_for(objectives)
        _check_pairs(w, x)
        return self._gradient_cf(
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
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise OipError(f"every must be an integer >= 1, got {every!r}")
        w_rows = self.weights_for(objectives)
        pairs = [(o, s) for o in range(len(objectives)) for s in seeds]
        w = w_rows[[o for o, _ in pairs]]
        pair_seeds = [s for _, s in pairs]
        x = starting_images(pair_seeds, options.init, options.wavelength, options.octaves)[
            ..., None
        ]

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
        )
        history: list[np.ndarray] = []
        done, stopped = 0, False
        x_t = tf.constant(x)

        def report(values: np.ndarray, proba: np.ndarray) -> bool:
            frame = OipProgress(done, options.steps, x_t.numpy()[..., 0], values, proba)
            return bool(callback(frame)) if callback is not None else False

        initial, proba = (a.numpy() for a in self._evaluate_cf(x_t, w_t))
        if callback is not None:
            stopped = report(initial, proba)
        chunk = every if callback is not None else options.steps
        while not stopped and done < options.steps:
            count = min(chunk, options.steps - done)
            x_t, chunk_values = self._ascend_cf(
                x_t, w_t, seeds_t, tf.constant(done), tf.constant(count), *constants
            )
            history.append(chunk_values.numpy())
            done += count
            if callback is not None:
                values, proba = (a.numpy() for a in self._evaluate_cf(x_t, w_t))
                stopped = report(values, proba) and done < options.steps
        final_values, final_proba = (a.numpy() for a in self._evaluate_cf(x_t, w_t))
        # The loop records each step's objective before its update: shift by one step.
        before = np.concatenate([*history, final_values[None]]).astype(np.float32)
        images = x_t.numpy()[..., 0]
        return OipResult(
            images=images,
            history=before[1:],
            activations=final_values.astype(np.float32),
            probabilities=final_proba.astype(np.float32),
            descriptions=[str(objectives[o]) for o, _ in pairs],
            seeds=pair_seeds,
            stopped=stopped,
            steps_done=done,
            options=options,
            objectives=[objectives[o] for o, _ in pairs],
            initial=initial.astype(np.float32),
        )

    def tracing_count(self) -> int:
        """How many times the ascent graph was traced (1 for the engine's whole life)."""
        return self._ascend_fn.experimental_get_tracing_count()


def _as_batch(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
        raise OipError(f"expected (n, 28, 28) standardized images, got shape {x.shape}")
    return x


def _check_pairs(w: np.ndarray, x: np.ndarray) -> None:
    if len(w) != len(x):
        raise OipError(f"{len(w)} objectives for {len(x)} images: need one per image")


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise OipError(f"seed must be an integer, got {seed!r}")
    if not 0 <= seed < _SEED_LIMIT:
        raise OipError(f"seed must be between 0 and {_SEED_LIMIT - 1}, got {seed}")
    return int(seed)


_ENGINES: dict[int, OipEngine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(trained: TrainedModel) -> OipEngine:
    """The process's engine for `trained`, built on first use (building traces the graphs)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(id(trained))
        if engine is None or engine.trained is not trained:
            engine = _ENGINES[id(trained)] = OipEngine(trained)
        return engine


def objectives_for(layer: str, units: Sequence[int] | str, engine: OipEngine) -> list[Objective]:
    """One objective per unit of `layer`: `MapMean` (maps), `Node` (Flatten, Dense_1) or
    `ClassLogit` (Dense_2); `units="all"` takes every unit.

    Raises:
        OipError: unknown layer, bad units.
    """
    if layer not in config.LAYER_NAMES:
        raise OipError(f"unknown layer {layer!r}; choose one of {', '.join(config.LAYER_NAMES)}")
    if layer in config.MAP_LAYERS:
        kind, make = ("map", layer), lambda u: MapMean(layer, u)
    elif layer in NODE_OBJECTIVE_LAYERS:
        kind, make = ("node", layer), lambda u: Node(layer, u)
    else:
        kind, make = ("logit", LOGIT), ClassLogit
    if isinstance(units, str):
        if units != "all":
            raise OipError(f"units must be a list of integers or 'all', got {units!r}")
        units = range(engine.sizes[kind])
    units = list(units)
    if not units:
        raise OipError("no units given")
    return [make(u) for u in units]


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
        layer: any layer name; maps get `MapMean`, Flatten/Dense_1 nodes `Node`, Dense_2 units
            `ClassLogit`.
        units: unit indices, or "all".
        steps: gradient steps.
        seed: starting-noise seed (every unit starts from the same noise).
        callback, every: progress, as in `OipEngine.run`.
        **options: any other `AscentOptions` field.

    Returns:
        `OipResult` with `(len(units), 28, 28)` float32 standardized images.

    Raises:
        OipError: unknown layer or option, unit out of range, bad steps.
    """
    known = {f.name for f in dataclasses.fields(AscentOptions)} - {"steps"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise OipError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = AscentOptions(steps=steps, **options)  # type: ignore[arg-type]
    engine = engine_for(trained)
    return engine.run(objectives_for(layer, units, engine), [seed], opts, callback, every)
