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
from cnn_core.oip.init import starting_images
from cnn_core.oip.objectives import LOGIT, ClassLogit, MapMean, Node, Objective, OipError, Term

# the options and their ranges (`cnn_core.oip.options`, no TensorFlow) are also the engine's names
from cnn_core.oip.options import INITS as INITS
from cnn_core.oip.options import LEARNING_RATES as LEARNING_RATES
from cnn_core.oip.options import LIMITS as LIMITS
from cnn_core.oip.options import MAX_IMAGES_PER_UNIT as MAX_IMAGES_PER_UNIT
from cnn_core.oip.options import MAX_STEPS as MAX_STEPS
from cnn_core.oip.options import PARAMETERIZATIONS as PARAMETERIZATIONS
from cnn_core.oip.options import TRANSFORMS as TRANSFORMS
from cnn_core.oip.options import AscentLimits as AscentLimits
from cnn_core.oip.options import AscentOptions as AscentOptions
from cnn_core.oip.options import Range as Range
from cnn_core.oip.params import (
    default_magnitude,
    fourier_scale,
    initial_parameters,
    mean_amplitude_spectrum,
    tf_fourier_image,
    tf_maco_image,
)
from cnn_core.oip.transforms import (
    standard_shift,
    tf_affine_each,
    tf_gaussian_blur,
    tf_random_affine,
    tf_roll_each,
    tf_standardize_each,
    tf_total_variation,
)

#: Most images one `run` optimizes at once (memory: about 0.5 MB of activations per image).
MAX_BATCH = 1024


#: With diversity: after RESTART_AT of the steps, an image under RESTART_BELOW of its group's
#: best activation starts again from a copy of the best (plus RESTART_NOISE of its spread).
RESTART_AT, RESTART_BELOW, RESTART_NOISE = 0.5, 0.75, 0.01
_PARAM_INDEX = {kind: i for i, kind in enumerate(PARAMETERIZATIONS)}
_TRANSFORM_SEED = 20_171_107  # the standard transforms' draws: a function of the step alone
_SEED_LIMIT = 2**31 - 1  # the modulus of the per-image jitter generator; seeds stay below
_MINSTD = 48_271  # Lehmer generator multiplier: per-image jitter offsets from (seed, step)


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
        spectrum_images: training images (pixel units, `(N, H, W[, C])`) whose mean amplitude
            spectrum the "maco" parameterization keeps (`set_spectrum`); without them a 1/f
            spectrum.

    Raises:
        OipError: unknown precision, or variants of another architecture.
    """

    def __init__(
        self,
        trained: TrainedModel,
        precision: str = "auto",
        variants: Sequence[TrainedModel] | None = None,
        layers: Sequence[str] | None = None,
        spectrum_images: np.ndarray | None = None,
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
        height, width, _ = self.image_shape
        # 1 / max(f, 1 / side): raised to the decay power in the graph (Lucid's scale)
        self._inverse_frequency = tf.constant(
            fourier_scale(height, width) / np.float32(np.sqrt(height * width))
        )
        self._magnitude = tf.Variable(default_magnitude(self.image_shape), trainable=False)
        self.spectrum_source = "1/f"
        if spectrum_images is not None:
            self.set_spectrum(spectrum_images)
        self.transform_shift = standard_shift(max(height, width))
        self._map_blocks = [b for b, (kind, _) in enumerate(self._keys) if kind == "map"]

        image = tf.TensorSpec([None, *self.image_shape], tf.float32, name="x")
        weight = tf.TensorSpec([None, total], tf.float32, name="w")
        flat = tf.TensorSpec([None, None], tf.float32)
        f32 = tf.TensorSpec([], tf.float32)
        i32 = tf.TensorSpec([], tf.int32)
        b = tf.TensorSpec([], tf.bool)
        signature = [
            flat, flat, flat,  # parameters, Adam's first and second moments
            weight, tf.TensorSpec([None], tf.int64, name="seeds"),
            i32, i32,  # start step, steps in this call
            f32, i32, f32, i32, f32, f32,  # step size, blur every, blur sigma, jitter, tv, l2
            b, b, b,  # ascend before the activation, restandardize, valid pixels
            i32, f32, b,  # parameterization, Adam's learning rate, standard transforms
            f32, i32, tf.TensorSpec([None], tf.int32),  # diversity, group size, Gram block
            f32, b,  # the Fourier scale's decay power, pre-activation only while dead
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
        # Runs with a diversity term: their own graph (traced on first use), which takes the
        # objective's and the diversity's gradients apart (see `_ascend`).
        self._ascend_fns["diverse"] = tf.function(
            lambda *a: self._ascend(exact, *a, diverse=True),
            input_signature=signature,
            autograph=False,
        )
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
        self._decode_cf = tf.function(
            self._decode, input_signature=[flat, i32, f32], autograph=False
        ).get_concrete_function()
        self._quantities_fn = tf.function(
            lambda x: self._forward(exact, x, tf.ones([len(self._block_columns)], tf.bool),
                                    tf.constant(False))[1],
            input_signature=[image],
            autograph=False,
        )  # fmt: skip
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
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, dict[str, tf.Tensor]]:
        """The quantities to ascend and the real ones, the logits, and each node's output.

        Args:
            graph: the model's layers (float32, or bfloat16 convolutions), one per variant.
            x: `(N, H, W, C)` float32 model input.
            needed: `(blocks,)` bool from `_needed`; an unused block is not computed (zeros)
                and no gradient flows back from it.
            pre: scalar bool, ascend the values before the activations where they exist.

        Returns:
            `(N, Q)` float32 ascended quantities, `(N, Q)` float32 real (post-activation)
            quantities, `(N, classes)` float32 logits, `{node: (N, ...) output}`.
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
        return tf.concat(surrogate, axis=1), tf.concat(real, axis=1), logits, outputs

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
    def _decode(self, params: tf.Tensor, mode: tf.Tensor, decay: tf.Tensor) -> tf.Tensor:
        """`(N, P)` parameters of parameterization `mode` -> `(N, H, W, C)` ascent images."""
        y_low, y_high = self.y_range
        shape = self.image_shape
        scale = tf.pow(self._inverse_frequency, decay) * float(np.sqrt(shape[0] * shape[1]))
        return tf.switch_case(
            mode,
            [
                lambda: tf.reshape(params, [-1, *shape]),
                lambda: tf_fourier_image(params, shape, scale, y_low, y_high),
                lambda: tf_maco_image(params, shape, self._magnitude, y_low, y_high),
            ],
        )

    def _diversity(
        self, outputs: dict[str, tf.Tensor], block: tf.Tensor, group: tf.Tensor
    ) -> tf.Tensor:
        """`(N,)` Lucid's diversity penalty per image: the sum of the cosine similarities of its
        Gram matrix (at map block `block[i]`) with those of the other images of its group (`group`
        consecutive images); 0 where `block` is -1."""
        n = tf.shape(block)[0]
        total = tf.zeros([n])
        for b in self._map_blocks:
            name = self._keys[b][1]

            def cosines(name: str = name, b: int = b) -> tf.Tensor:
                act = tf.cast(outputs[name], tf.float32)
                flat = tf.reshape(act, [n, -1, act.shape[-1]])
                gram = tf.reshape(tf.matmul(flat, flat, transpose_a=True), [n, -1])
                gram = tf.math.l2_normalize(gram, axis=1, epsilon=1e-10)
                grouped = tf.reshape(gram, [-1, group, tf.shape(gram)[1]])
                cos = tf.matmul(grouped, grouped, transpose_b=True)  # (groups, k, k)
                others = tf.reduce_sum(cos, axis=2) - tf.linalg.diag_part(cos)
                return tf.where(tf.equal(block, b), tf.reshape(others, [n]), 0.0)

            total += tf.cond(tf.reduce_any(tf.equal(block, b)), cosines, lambda: tf.zeros([n]))
        return total

    # The traced bodies use TensorFlow's control flow (tf.cond, tf.while_loop) themselves, so
    # they are traced with autograph=False: converting the graph walk and every Keras layer's
    # Python took most of an engine's build on a 150-layer model.
    def _ascend(
        self, graph, params, adam_m, adam_v, w, seeds, start, count, step_size, blur_every,
        blur_sigma, jitter, tv, l2, pre, restandardize, valid, mode, learning_rate, transform,
        diversity, group, gram_block, decay, while_dead, diverse=False,
    ):  # fmt: skip
        n = tf.shape(params)[0]
        needed = self._needed(w)
        values = tf.TensorArray(tf.float32, size=count, element_shape=[None])
        y_low, y_high = (tf.constant(v, tf.float32) for v in self.y_range)
        pixel = tf.equal(mode, 0)
        shape = [-1, *self.image_shape]

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

        def seen_by_model(y: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
            y = tf.cond(
                jitter > 0, lambda: tf_roll_each(y, offsets(step, 0), offsets(step, 1)), lambda: y
            )
            # one draw per step for the whole batch, from the step alone
            seed = tf.stack([tf.constant(_TRANSFORM_SEED, tf.int32), step])[None]
            return tf.cond(
                transform,
                lambda: tf_affine_each(y, tf_random_affine(seed, self.transform_shift)),
                lambda: y,
            )

        def pixel_step(p, m, v, grad):
            # The seed's step: the gradient normalized to RMS 1 per image.
            rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=1, keepdims=True))
            # The guard against a zero gradient: 1e-8 for ordinary gradients (the seed's
            # figures), but a unit whose values are ~1e-10 (an untrained deep network) has a
            # gradient RMS far below 1e-8 and would never move, so there it only guards zero.
            eps = tf.where(rms > 1e-6, 1e-8, 1e-30)
            y = project(tf.reshape(p + step_size * grad / (rms + eps), shape))
            return tf.reshape(y, tf.shape(p)), m, v

        def adam_step(p, m, v, grad, step):
            t = tf.cast(step + 1, tf.float32)
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * tf.square(grad)
            m_hat, v_hat = m / (1.0 - 0.9**t), v / (1.0 - 0.999**t)
            return p + learning_rate * m_hat / (tf.sqrt(v_hat) + 1e-8), m, v

        def apart(objective: tf.Tensor, spread: tf.Tensor) -> tf.Tensor:
            # `(N, P)`: the diversity's gradient without the part that would lower the image's
            # own objective (PCGrad, Yu et al. 2020: a conflicting component is projected out),
            # so the k images spread along their objective's level set instead of down it.
            dot = tf.reduce_sum(spread * objective, axis=1, keepdims=True)
            norm = tf.reduce_sum(tf.square(objective), axis=1, keepdims=True)
            spread -= tf.minimum(dot, 0.0) / (norm + 1e-30) * objective
            # and at most as long as the objective's gradient: Adam divides by the RMS of the
            # sum, so a larger term would shrink the objective's own step
            length = tf.sqrt(tf.reduce_sum(tf.square(spread), axis=1, keepdims=True))
            return objective + spread * tf.minimum(1.0, tf.sqrt(norm) / (length + 1e-30))

        def body(i, p, m, v, values):
            step = start + i
            # Blur at the start of a step, so the last step always ends with a gradient step.
            blur_now = tf.logical_and(
                tf.logical_and(pixel, tf.logical_and(blur_every > 0, blur_sigma > 0)),
                tf.logical_and(step > 0, tf.math.floormod(step, tf.maximum(blur_every, 1)) == 0),
            )
            p = tf.cond(
                blur_now,
                lambda: tf.reshape(
                    project(tf_gaussian_blur(tf.reshape(p, shape), blur_sigma)), tf.shape(p)
                ),
                lambda: p,
            )
            with tf.GradientTape(persistent=diverse) as tape:
                tape.watch(p)
                y = self._decode(p, mode, decay)
                seen = seen_by_model(y, step)
                q_ascend, q_real, _, outputs = self._forward(
                    graph, self._to_model(seen), needed, pre
                )
                q_ascend = tf.where(tf.logical_and(while_dead, q_real > 0), q_real, q_ascend)
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
                if diverse:
                    spread = -diversity * tf.reduce_sum(self._diversity(outputs, gram_block, group))
            if diverse:
                grad = apart(tape.gradient(total, p), tape.gradient(spread, p))
            else:
                grad = tape.gradient(total, p)
            p, m, v = tf.cond(
                pixel,
                lambda: pixel_step(p, m, v, grad),
                lambda: adam_step(p, m, v, grad, step),
            )
            return i + 1, p, m, v, values.write(i, real)

        _, params, adam_m, adam_v, values = tf.while_loop(
            lambda i, *_: i < count,
            body,
            [tf.constant(0), params, adam_m, adam_v, values],
            parallel_iterations=1,
        )
        real_values = tf.reshape(values.stack(), [count, n])
        return params, adam_m, adam_v, real_values

    def _evaluate(self, graph, x, w):
        every_block = tf.ones([len(self._block_columns)], tf.bool)
        _, q_real, logits, _ = self._forward(graph, x, every_block, tf.constant(False))
        return tf.reduce_sum(w * q_real, axis=1), tf.nn.softmax(logits)

    def _gradient_rms(self, graph, x, w, pre):
        with tf.GradientTape() as tape:
            tape.watch(x)
            q_ascend, _, _, _ = self._forward(graph, x, self._needed(w), pre)
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
        """Ascend `options.images_per_unit` images for `objectives[i]` from seed `pair_seeds[i]`,
        as one batch."""
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise OipError(f"every must be an integer >= 1, got {every!r}")
        k = options.images_per_unit
        if len(objectives) * k > MAX_BATCH:
            raise OipError(
                f"{len(objectives)} objectives x {k} images per unit is more than {MAX_BATCH}"
            )
        per_image = [o for o in objectives for _ in range(k)]
        image_seeds = [_image_seed(s, j) for s in pair_seeds for j in range(k)]
        w = self.weights_for(per_image)
        gram_block = self._gram_blocks(per_image, options.diversity > 0)
        kind = options.parameterization
        if kind == "pixel":
            x = starting_images(
                image_seeds, options.init, options.wavelength, options.octaves, self.image_shape
            )
            if options.valid_pixels:
                x = np.clip(x, *self.y_range)
            params = x.reshape(len(x), -1)
            moments = np.zeros((len(x), 0), np.float32)
        else:
            params = initial_parameters(kind, image_seeds, self.image_shape)
            moments = np.zeros_like(params)
        mode = tf.constant(_PARAM_INDEX[kind])
        decay = tf.constant(float(options.decay_power))

        w_t, seeds_t = tf.constant(w), tf.constant(image_seeds, dtype=tf.int64)
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
            mode,
            tf.constant(options.adam_learning_rate),
            tf.constant(options.transforms == "standard"),
            tf.constant(float(options.diversity)),
            tf.constant(k),
            tf.constant(gram_block),
            decay,
            tf.constant(options.revives_only),
        )
        exact = options.jitter > 0 or options.transforms != "none"
        ascend = self._ascent_graph(
            "diverse" if options.diversity > 0 else "exact" if exact else "fast"
        )
        history: list[np.ndarray] = []
        done, stopped = 0, False
        p_t, m_t, v_t = tf.constant(params), tf.constant(moments), tf.constant(moments)

        def images_now() -> tf.Tensor:
            """The ascent's images now, `(N, H, W, C)` in its standardized space."""
            return self._decode_cf(p_t, mode, decay)

        def evaluate() -> tuple[np.ndarray, np.ndarray]:
            values, proba = self._evaluate_cf(self._to_model(images_now()), w_t)
            return values.numpy(), proba.numpy()

        def report(values: np.ndarray, proba: np.ndarray) -> bool:
            frame = OipProgress(
                done,
                options.steps,
                _per_unit(self._images_out(images_now()), k),
                _per_unit(values, k),
                _per_unit(proba, k),
            )
            return bool(callback(frame)) if callback is not None else False

        initial, proba = evaluate()
        if callback is not None:
            stopped = report(initial, proba)
        chunk = every if callback is not None else options.steps
        # the restart of images left behind, once, at a chunk's end
        restart = int(RESTART_AT * options.steps) if options.diversity > 0 and k > 1 else 0
        while not stopped and done < options.steps:
            if restart and done == restart:
                p_t, m_t, v_t = _restart_left_behind(evaluate()[0], k, image_seeds, (p_t, m_t, v_t))
            count = min(chunk, options.steps - done, *([restart - done] if done < restart else []))
            p_t, m_t, v_t, chunk_values = ascend(
                p_t, m_t, v_t, w_t, seeds_t, tf.constant(done), tf.constant(count), *constants
            )
            history.append(chunk_values.numpy())
            done += count
            if callback is not None:
                values, proba = evaluate()
                stopped = report(values, proba) and done < options.steps
        final_values, final_proba = evaluate()
        # The loop records each step's objective before its update: shift by one step.
        before = np.concatenate([*history, final_values[None]]).astype(np.float32)
        images = self._images_out(images_now())
        history_rows = before[1:]
        return OipResult(
            images=_per_unit(images, k),
            history=history_rows
            if k == 1
            else history_rows.reshape(len(history_rows), len(objectives), k),
            activations=_per_unit(final_values.astype(np.float32), k),
            probabilities=_per_unit(final_proba.astype(np.float32), k),
            descriptions=[str(objective) for objective in objectives],
            seeds=pair_seeds,
            stopped=stopped,
            steps_done=done,
            options=options,
            objectives=list(objectives),
            initial=_per_unit(initial.astype(np.float32), k),
        )

    def _gram_blocks(self, objectives: list[Objective], needed: bool) -> np.ndarray:
        """`(N,)` int32 per image: the quantity block of the map layer whose Gram matrices the
        diversity term compares (the objective's first map term, else the engine's last map
        layer); -1 without diversity.

        Raises:
            OipError: diversity asked for on an engine without a map layer.
        """
        blocks = np.full(len(objectives), -1, np.int32)
        if not needed:
            return blocks
        if not self._map_blocks:
            raise OipError("diversity needs a map layer; this engine has none")
        index = {key: b for b, key in enumerate(self._keys)}
        for row, objective in enumerate(objectives):
            maps = [index[("map", t.layer)] for _, t in objective.terms if t.kind == "map"]
            blocks[row] = maps[0] if maps else self._map_blocks[-1]
        return blocks

    def set_spectrum(self, images: np.ndarray) -> None:
        """Keep the mean amplitude spectrum of `images` for the "maco" parameterization.

        Args:
            images: `(N, H, W)` or `(N, H, W, C)` training images in pixel units, the model's
                size and channels (`N >= 1`).

        Raises:
            OipError: no images, or not the model's image shape.
        """
        x = np.asarray(images)
        if x.ndim == 3 and self.image_shape[2] == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[1:] != self.image_shape or not len(x):
            raise OipError(
                f"spectrum images must be (N, {', '.join(map(str, self.image_shape))}), "
                f"got shape {x.shape}"
            )
        self._magnitude.assign(mean_amplitude_spectrum(x))
        self.spectrum_source = f"{len(x):,} training images"

    def quantities(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """Every real (post-activation) quantity of the engine for given images: the spatial
        mean of each map of each covered map layer, each node, each logit (columns as
        `weights_for`'s; `quantities(x) @ weights_for(objectives).T` evaluates every objective
        on every image).

        Args:
            images: `(N, H, W)` or `(N, H, W, C)` float32 model input.
            batch: images per call.

        Returns:
            `(N, Q)` float32.
        """
        x = self._as_batch(images)
        parts = [
            self._quantities_fn(tf.constant(x[i : i + batch])).numpy()
            for i in range(0, len(x), batch)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.num_quantities), np.float32)

    def tracing_count(self) -> int:
        """How many times the ascent graphs were traced (1 per precision used and 1 for runs
        with diversity, for the engine's whole life)."""
        ascents = {fn for name, fn in self._ascend_fns.items() if name != "gradient"}
        return sum(fn.experimental_get_tracing_count() for fn in ascents)


def _image_seed(seed: int, j: int) -> int:
    """The starting seed of image `j` of a unit's `k` images: `seed` itself for the first."""
    return seed if j == 0 else (seed * 1_000_003 + j * 7_919) % _SEED_LIMIT


def _per_unit(array: np.ndarray, k: int) -> np.ndarray:
    """`(n * k, ...)` -> `(n, k, ...)`; unchanged for `k == 1`."""
    return array if k == 1 else array.reshape(-1, k, *array.shape[1:])


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


def engine_for(
    trained: TrainedModel,
    layer: str | None = None,
    spectrum_images: Callable[[], np.ndarray | None] | None = None,
) -> OipEngine:
    """The process's engine for `trained`, built on first use (building traces the graphs).

    `spectrum_images`, called only when an engine is built, returns the training images of the
    "maco" parameterization's spectrum (`OipEngine(spectrum_images=...)`; None: 1/f).

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
            images = spectrum_images() if spectrum_images is not None else None
            engine = _ENGINES[key] = OipEngine(trained, layers=layers, spectrum_images=images)
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


#: Models with one channel and at most this many pixels a side keep the seed's pixel ascent.
SMALL_GREY_SIDE = 32
#: What choosing a parameterization by name (the OIP page, the CLI) sets besides it: "fourier"
#: with a 1/f**3 spectrum scale (`bench/oip_quality.py`, 200 steps, 2026-12-03: on the colour
#: example Lucid's 1/f kept 4.8x the data's high-frequency power, 1/f**2 3.0x, 1/f**2.5 1.8x,
#: 1/f**3 1.1x; on the residual example 1/f**2 3.7x, 1/f**2.5 2.5x, 1/f**3 1.1x; with 1/f**3
#: 97% and 100% of the units still beat the best test image, median robustness 0.89 and 0.92).
METHOD_OPTIONS: dict[str, dict[str, object]] = {
    "pixel": {},
    "fourier": {"decay_power": 3.0},
    "maco": {},
}
#: What changes for class objectives (logits, contrasts): a class's OIP is a whole object whose
#: edges need the frequencies 1/f**3 damps (on the colour example the "red disc" OIP came out a
#: 69% "red square" after 200 steps with 1/f**3; with 1/f**2 and 1/f**2.5 each of the 6 class
#: OIPs is its class at 100%, 2026-12-03).
CLASS_METHOD_OPTIONS: dict[str, dict[str, object]] = {"fourier": {"decay_power": 2.0}}


def default_method(desc: ModelDescription) -> tuple[str, bool]:
    """The recommended `(parameterization, standard transforms)` for a model.

    One-channel models of at most `SMALL_GREY_SIDE` px a side (the seed) keep the seed's pixel
    ascent without transforms: its figures (every Conv2D_3 map above the best test digit,
    median 4x). Colour and larger models get "fourier" (1/f**3, `METHOD_OPTIONS`) with the
    standard transforms (`bench/oip_quality.py`: on the colour and residual examples 97% and
    100% of the units of the last map node beat the best test image, the OIPs survive unseen
    shifts, scales and rotations (median 0.89, 0.92) where pixel ascent's high-frequency
    patterns keep 0.38, and their spectrum is within 1.1x of the data's, pixel ascent's 8x).
    """
    height, width, channels = desc.input_shape
    if channels == 1 and max(height, width) <= SMALL_GREY_SIDE:
        return "pixel", False
    return "fourier", True


def method_options(
    parameterization: str, transforms: bool, classes: bool = False
) -> dict[str, object]:
    """The `AscentOptions` fields of a parameterization chosen by name, with or without the
    standard transforms (`METHOD_OPTIONS`; for class objectives `CLASS_METHOD_OPTIONS` on top).

    Raises:
        OipError: an unknown parameterization.
    """
    if parameterization not in METHOD_OPTIONS:
        raise OipError(
            f"unknown parameterization {parameterization!r}; choose one of "
            f"{', '.join(METHOD_OPTIONS)}"
        )
    extra = CLASS_METHOD_OPTIONS.get(parameterization, {}) if classes else {}
    return {
        "parameterization": parameterization,
        "transforms": "standard" if transforms else "none",
        **METHOD_OPTIONS[parameterization],
        **extra,
    }


def default_options(
    desc: ModelDescription, classes: bool = False, **overrides: object
) -> AscentOptions:
    """The recommended options for a model (`default_method`), for class objectives if
    `classes`, with `overrides` (any `AscentOptions` field).

    Raises:
        OipError: an unknown or invalid option.
    """
    known = {f.name for f in dataclasses.fields(AscentOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise OipError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    parameterization, transforms = default_method(desc)
    if "parameterization" in overrides:  # a parameterization asked for by name brings its own
        parameterization = str(overrides["parameterization"])
    base = method_options(parameterization, transforms, classes)
    return AscentOptions(**(base | overrides))  # type: ignore[arg-type]


def _restart_left_behind(
    values: np.ndarray, k: int, image_seeds: Sequence[int], state: tuple[tf.Tensor, ...]
) -> tuple[tf.Tensor, ...]:
    """The ascent's state with each image under `RESTART_BELOW` of its group's best replaced by
    the best's parameters (and Adam moments) plus noise of `RESTART_NOISE` times their spread,
    drawn from the image's own seed (so an image does not depend on the batch around it).

    Args:
        values: `(N,)` float32, each image's activation now; groups of `k` consecutive images.
        image_seeds: `N` per-image seeds.
        state: parameters, Adam's first and second moments, each `(N, P)` float32 (moments
            `(N, 0)` in pixel mode).
    """
    grouped = values.reshape(-1, k)
    best = grouped.argmax(axis=1)
    top = grouped.max(axis=1, keepdims=True)
    behind = (grouped < RESTART_BELOW * top) & (top > 0)  # a share of nothing is no measure
    if not behind.any():
        return state
    params, *moments = (t.numpy() for t in state)
    for group, j in zip(*np.nonzero(behind), strict=True):
        src, dst = group * k + best[group], group * k + j
        noise = np.random.default_rng(image_seeds[dst]).standard_normal(params.shape[1])
        params[dst] = params[src] + RESTART_NOISE * params[src].std() * noise.astype(np.float32)
        for moment in moments:
            moment[dst] = moment[src]
    return tuple(tf.constant(a) for a in (params, *moments))


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
        **options: any other `AscentOptions` field; the others are the model's defaults
            (`default_options`: the seed's pixel ascent for small grey models, "fourier" with
            the standard transforms for colour and larger ones).

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
    opts = default_options(trained.desc, layer == trained.desc.logits_layer, steps=steps, **options)
    objectives = objectives_for(layer, units, trained.desc)  # checked before the engine's build
    return engine_for(trained, layer).run(objectives, [seed], opts, callback, every)
