"""Attribution (issue #11): speed of the five methods for one digit against a naive eager loop,
and the deletion check of every method on 100 test digits.

Speed: each of 30 test digits gets all five methods (IG 32 steps, SmoothGrad 16 samples,
occlusion 4x4 window stride 2, Grad-CAM on the last map layer), one call each, server side,
through `cnn_core.explain.attribution` (one traced function per method, an image's steps / samples /
windows as one batch). The baseline is the same arithmetic written the way a user new to
TensorFlow would: the model's own layers called eagerly, one `tf.GradientTape` per
interpolation step or noise sample, one forward pass per occluded window. Both run on the same
digits, interleaved, so they see the same load; each line carries the load average and how far
the two ways' maps agree.

Faithfulness: for 100 test digits, each method's map of the predicted class; the deletion curve
(the predicted class's probability while the most-attributed pixels are set to black, 0-100% in
11 steps) and its area, against a random order (lower is more faithful). The same figures on
the colour example follow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from _common import emit, percentile

from cnn_core import config
from cnn_core.data.sources import load_dataset, load_mnist
from cnn_core.explain.attribution import METHODS, Attributor, attributor_for, deletion_curves
from cnn_core.model.forward import ExposedForward
from cnn_core.model.trained import TrainedModel, load_trained

#: The issue's settings.
OPTIONS: dict[str, dict[str, object]] = {
    "saliency": {},
    "smoothgrad": {"samples": 16, "noise": 0.15},
    "integrated_gradients": {"steps": 32},
    "gradcam": {},
    "occlusion": {"window": 4, "stride": 2},
}
TIMED_DIGITS = 30
FAITHFUL_DIGITS = 100
GOAL_ALL_FIVE_P95_MS = 150.0
GOALS = {"integrated_gradients": 0.5, "saliency": 0.7}  # area <= goal x random's


class EagerBaseline:
    """The five methods written naively: eager, one image, one tape per step / sample / window.

    Gives the same maps as `cnn_core.explain.attribution` (same noise, same path points, same
    windows), so the timing compares the same work.
    """

    def __init__(self, trained: TrainedModel, attributor: Attributor) -> None:
        self.forward = ExposedForward(trained.model, trained.desc)  # called eagerly
        self.attributor = attributor
        self.layer = trained.desc.last_map_layer
        self.num_classes = trained.desc.num_classes

    def _logit(self, x: tf.Tensor, k: int) -> tf.Tensor:
        return self.forward(x)[2][0, k]

    def _grad(self, x: np.ndarray | tf.Tensor, k: int) -> np.ndarray:
        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = self._logit(x, k)
        return tape.gradient(score, x).numpy()[0]

    def saliency(self, x: np.ndarray, k: int) -> np.ndarray:
        return np.abs(self._grad(x, k)).max(axis=-1)

    def smoothgrad(self, x: np.ndarray, k: int, samples: int = 16, noise: float = 0.15):
        eps = tf.random.stateless_normal(
            [samples, *x.shape[1:]], seed=tf.constant([0, 0], tf.int64)
        ).numpy()
        sigma = noise * (x.max() - x.min())
        total = np.zeros(x.shape[1:], np.float32)
        for s in range(samples):
            total += np.abs(self._grad(x + sigma * eps[s : s + 1], k))
        return (total / samples).max(axis=-1)

    def integrated_gradients(self, x: np.ndarray, k: int, steps: int = 32) -> np.ndarray:
        baseline = self.attributor.black[None]
        total = np.zeros(x.shape[1:], np.float32)
        for i in range(steps):
            alpha = (i + 0.5) / steps
            total += self._grad(baseline + alpha * (x - baseline), k)
        return ((x[0] - baseline[0]) * total / steps).sum(axis=-1)

    def gradcam(self, x: np.ndarray, k: int) -> np.ndarray:
        x_t = tf.constant(x)
        with tf.GradientTape() as tape:
            outputs, _, logits = self.forward(x_t)
            maps = outputs[self.layer]
            tape.watch(maps)
            score = logits[0, k]
        grad = tape.gradient(score, maps)
        weights = tf.reduce_mean(grad, axis=[1, 2], keepdims=True)
        heat = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))
        return tf.image.resize(heat, x.shape[1:3], method="bilinear").numpy()[0, ..., 0]

    def occlusion(self, x: np.ndarray, k: int, window: int = 4, stride: int = 2) -> np.ndarray:
        masks = self.attributor.occlusion_masks((window, window), (stride, stride))
        black = self.attributor.black
        base = float(self._logit(tf.constant(x), k))
        total = np.zeros(masks.shape[1:], np.float32)
        for mask in masks:
            m = mask[None, ..., None]
            occluded = x * (1 - m) + black * m
            total += (base - float(self._logit(tf.constant(occluded), k))) * mask
        return total / masks.sum(axis=0)


def timed(
    fn: Callable[..., np.ndarray], *args: object, **kwargs: object
) -> tuple[float, np.ndarray]:
    """Milliseconds of `fn(*args, **kwargs)` and its result."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, out


def speed(name: str, trained: TrainedModel, x: np.ndarray, classes: np.ndarray) -> None:
    """Per-method and all-five p50/p95 for one image at a time, ours against the eager loop."""
    # First use: a fresh Attributor traces each method once.
    fresh = Attributor(trained)
    first = {}
    for method in METHODS:
        first[method], _ = timed(fresh.attribute, x[:1], method, int(classes[0]), **OPTIONS[method])
    emit(
        f"{name}_first_call",
        first_call_ms={m: round(v, 1) for m, v in first.items()},
        desc="each method's first call on a new model: traces its tf.function once",
    )
    attributor = attributor_for(trained)
    for method in METHODS:  # warm: trace outside the timing
        attributor.attribute(x[:1], method, int(classes[0]), **OPTIONS[method])
    naive = EagerBaseline(trained, attributor)
    ours: dict[str, list[float]] = {m: [] for m in METHODS}
    base: dict[str, list[float]] = {m: [] for m in METHODS}
    disagreement: dict[str, float] = dict.fromkeys(METHODS, 0.0)
    load_before = os.getloadavg()[0]
    for i in range(len(x)):
        image, k = x[i : i + 1], int(classes[i])
        for method in METHODS:
            ms, mine = timed(attributor.attribute, image, method, k, **OPTIONS[method])
            mine = mine[0]
            ours[method].append(ms)
            ms, theirs = timed(getattr(naive, method), image, k, **OPTIONS[method])
            base[method].append(ms)
            scale = float(np.abs(mine).max()) or 1.0
            disagreement[method] = max(
                disagreement[method], float(np.abs(mine - theirs).max()) / scale
            )
    load_after = os.getloadavg()[0]
    for method in METHODS:
        p50, b50 = percentile(ours[method], 50), percentile(base[method], 50)
        emit(
            f"{name}_{method}",
            options=OPTIONS[method],
            p50_ms=round(p50, 2),
            p95_ms=round(percentile(ours[method], 95), 2),
            baseline_p50_ms=round(b50, 2),
            baseline_p95_ms=round(percentile(base[method], 95), 2),
            ratio=round(b50 / p50, 1),
            max_map_difference=round(disagreement[method], 6),
            n=len(ours[method]),
        )
    total = [sum(ours[m][i] for m in METHODS) for i in range(len(x))]
    base_total = [sum(base[m][i] for m in METHODS) for i in range(len(x))]
    p95 = percentile(total, 95)
    emit(
        f"{name}_all_five",
        p50_ms=round(percentile(total, 50), 1),
        p95_ms=round(p95, 1),
        goal_p95_ms=GOAL_ALL_FIVE_P95_MS,
        goal_met=p95 <= GOAL_ALL_FIVE_P95_MS,
        baseline_p50_ms=round(percentile(base_total, 50), 1),
        baseline_p95_ms=round(percentile(base_total, 95), 1),
        ratio=round(percentile(base_total, 50) / percentile(total, 50), 1),
        n=len(total),
        load_average_1min=[round(load_before, 2), round(load_after, 2)],
        cpus=os.cpu_count(),
        desc="all five methods for one image, one call each, server side (no page)",
        baseline_desc="eager ExposedForward, one GradientTape per IG step / SmoothGrad sample, "
        "one forward pass per occlusion window, one image at a time",
    )


def faithfulness(name: str, trained: TrainedModel, x: np.ndarray) -> None:
    """Mean deletion area of every method and of random order, predicted class, 11 points."""
    attributor = attributor_for(trained)
    predicted = attributor.probabilities(x).argmax(axis=1)
    areas: dict[str, float] = {}
    random_area, random_curve = None, None
    for method in METHODS:
        start = time.perf_counter()
        maps = attributor.attribute(x, method, predicted, **OPTIONS[method])
        seconds = time.perf_counter() - start
        curves = deletion_curves(trained, x, maps, predicted)
        areas[method] = float(curves.areas.mean())
        random_area = float(curves.random_areas.mean())
        random_curve = curves.random_probabilities.mean(axis=0)
        emit(
            f"{name}_deletion_{method}",
            images=len(x),
            mean_area=round(areas[method], 3),
            random_mean_area=round(random_area, 3),
            ratio_to_random=round(areas[method] / random_area, 3),
            beats_random=round(float((curves.areas < curves.random_areas).mean()), 3),
            mean_curve=[round(float(v), 3) for v in curves.probabilities.mean(axis=0)],
            options=OPTIONS[method],
            batch_seconds=round(seconds, 2),
        )
    # The random reference's spread over seeds (its order is one permutation per seed).
    maps = np.zeros(x.shape[:3], np.float32)  # all ties: the random order decides
    random_by_seed = [
        float(deletion_curves(trained, x, maps, predicted, seed=s).random_areas.mean())
        for s in range(5)
    ]
    assert random_area is not None and random_curve is not None
    goals = {
        method: {
            "ratio": round(areas[method] / random_area, 3),
            "goal": goal,
            "met": areas[method] <= goal * random_area,
        }
        for method, goal in GOALS.items()
    }
    emit(
        f"{name}_deletion",
        images=len(x),
        target="predicted class",
        fractions=11,
        mean_area={m: round(a, 3) for m, a in areas.items()},
        random_mean_area=round(random_area, 3),
        random_mean_curve=[round(float(v), 3) for v in random_curve],
        random_mean_area_seeds_0_4=[round(a, 3) for a in random_by_seed],
        goals=goals,
        black="model space: standardize(0)",
    )


def main() -> None:
    trained = load_trained()
    data = load_mnist()
    x = trained.standardize(data.x_test[:FAITHFUL_DIGITS])
    predicted = attributor_for(trained).probabilities(x).argmax(axis=1)
    speed("attribution", trained, x[:TIMED_DIGITS], predicted[:TIMED_DIGITS])
    faithfulness("attribution", trained, x)

    colour = load_trained(config.shapes_model_path())
    shapes = load_dataset(config.shapes_model_path().with_suffix(".npz"))
    xc = colour.standardize(shapes.x_test[:FAITHFUL_DIGITS])
    pc = attributor_for(colour).probabilities(xc).argmax(axis=1)
    speed("attribution_colour", colour, xc[:TIMED_DIGITS], pc[:TIMED_DIGITS])
    faithfulness("attribution_colour", colour, xc)


if __name__ == "__main__":
    main()
