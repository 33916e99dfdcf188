"""OIP engine: speed against the seed's way, a FLOP estimate, and the quality figures of issue #5.

Speed: the seed's way (article VII, after Chollet): a sub-model to the layer, eager
`GradientTape`, one map at a time, normalized gradient, re-standardization. It is timed on a
few maps and extrapolated to all 128 maps of Conv2D_3; the engine optimizes all 128 as one
batch, same number of steps, in the same run.

The machine may be shared: the batched run uses both cores and suffers more from other
processes than the seed's single-threaded eager loop, so the line also carries the ratio of
the fastest runs and the load average before and after.

Quality: each Conv2D_3 OIP's real (post-ReLU) map mean against the best of the 1,000 test
digits; zero-gradient starts from per-pixel and long-range noise; how different the OIPs of
different seeds are. Every figure is one JSON line.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from _common import emit, percentile

from cnn_core import config
from cnn_core.data.sources import load_dataset, load_mnist
from cnn_core.explain.activations import ActivationModel
from cnn_core.model.trained import TrainedModel, load_trained
from cnn_core.oip import AscentOptions, ClassLogit, MapMean, OipEngine, starting_images

# The figures of this bench are the seed model's (issue #5): its Conv2D_3, 128 maps.
LAYER = "Conv2D_3"
STEPS = 200
ROUNDS = 5
BASELINE_MAPS_PER_ROUND = 2  # 5 rounds: 10 maps timed the seed's way
DIGITS = 1000
FRESH_PROCESSES = 3  # the batched run again in new processes, per precision


def seed_way_seconds_per_map(
    trained: TrainedModel, units: list[int], steps: int, layer: str = LAYER
) -> list[float]:
    """Seconds per map of eager gradient ascent, one map at a time (the seed's way)."""
    output = trained.model.get_layer(trained.desc.layer(layer).output_layer).output
    sub = keras.Model(trained.model.inputs[0], output)
    times = []
    for unit in units:
        start = time.perf_counter()
        x = tf.constant(starting_images([0], "long_range", shape=trained.desc.input_shape))
        for _ in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_mean(sub(x, training=False)[..., unit])
            grads = tape.gradient(loss, x)
            grads /= tf.sqrt(tf.reduce_mean(tf.square(grads))) + 1e-5
            x = x + 0.2 * grads
            x = (x - tf.reduce_mean(x)) / (tf.math.reduce_std(x) + 1e-8)
        times.append(time.perf_counter() - start)
    return times


def forward_macs(model: keras.Model) -> dict[str, int]:
    """Multiply-adds of one forward pass of one image, per conv/dense layer."""
    macs = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            macs[layer.name] = int(h * w * c_out * kh * kw * c_in)
        elif isinstance(layer, keras.layers.Dense):
            macs[layer.name] = int(np.prod(layer.kernel.shape))
    return macs


def matmul_gflops() -> float:
    """What this machine's TensorFlow reaches on a large float32 matmul (a practical peak)."""
    a = tf.random.normal([2048, 2048])
    mm = tf.function(lambda a: tf.matmul(a, a))
    mm(a).numpy()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        mm(a).numpy()
        times.append(time.perf_counter() - start)
    return 2 * 2048**3 / min(times) / 1e9


def ratios_to_best_digit(activations: np.ndarray, best: np.ndarray) -> np.ndarray:
    """OIP / best digit per map; inf where no digit activates the map but the OIP does."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = activations / best
    return np.where(best > 0, ratio, np.where(activations > 0, np.inf, 0.0))


def quality(
    name: str, engine: OipEngine, best: np.ndarray, options: AscentOptions, layer: str = LAYER
) -> None:
    objectives = [MapMean(layer, u) for u in range(len(best))]
    start = time.perf_counter()
    result = engine.run(objectives, [0], options)
    seconds = time.perf_counter() - start
    ratio = ratios_to_best_digit(result.activations, best)
    alive = best > 0
    pixels = engine.trained.unstandardize(result.images)
    low, high = engine.trained.pixel_range
    emit(
        name,
        layer=layer,
        maps=len(best),
        steps=options.steps,
        beats_best_digit=round(float((ratio > 1).mean()), 4),
        maps_beating=int((ratio > 1).sum()),
        median_ratio=round(float(np.median(ratio)), 3),
        median_ratio_maps_digits_activate=round(float(np.median(ratio[alive])), 3),
        min_ratio=round(float(ratio.min()), 3),
        maps_no_digit_activates=int((~alive).sum()),
        maps_oip_zero=int((result.activations <= 0).sum()),
        pixels_outside_range=round(
            float(((pixels < low - 1e-3) | (pixels > high + 1e-3)).mean()), 4
        ),
        pixel_min_max=[round(float(pixels.min()), 1), round(float(pixels.max()), 1)],
        seconds=round(seconds, 2),
        options=dataclasses.asdict(options),
    )


def main() -> None:
    trained = load_trained()
    data = load_mnist()
    acts = ActivationModel(trained)
    digits = trained.standardize(data.x_test[:DIGITS])
    best = acts.layer(digits, LAYER).mean(axis=(1, 2)).max(axis=0)
    n_maps = len(best)

    start = time.perf_counter()
    engine = OipEngine(trained)
    emit(
        "oip_engine_build",
        seconds=round(time.perf_counter() - start, 2),
        traced_graphs=2,  # ascent, evaluation (float32 ascent on a first jitter run, gradient_rms
        # on its first call)
        precision=engine.precision,
    )

    # ---- speed: seed's way vs one batch -------------------------------------------------
    options = AscentOptions(steps=STEPS)
    objectives = [MapMean(LAYER, u) for u in range(n_maps)]
    # Interleaved, so that both ways see the same load on a shared machine.
    batched: list[float] = []
    per_map: list[float] = []
    load_before = os.getloadavg()[0]
    for round_ in range(ROUNDS):
        start = time.perf_counter()
        engine.run(objectives, [0], options)
        batched.append(time.perf_counter() - start)
        units = list(
            range(round_ * BASELINE_MAPS_PER_ROUND, (round_ + 1) * BASELINE_MAPS_PER_ROUND)
        )
        per_map += seed_way_seconds_per_map(trained, units, STEPS)
    baseline_s = float(np.median(per_map)) * n_maps
    batched_s = float(np.median(batched))
    emit(
        "oip_all_maps",
        layer=LAYER,
        maps=n_maps,
        steps=STEPS,
        baseline_s=round(baseline_s, 2),
        batched_s=round(batched_s, 2),
        ratio=round(baseline_s / batched_s, 1),
        baseline_p50_ms=round(baseline_s * 1000, 1),
        p50_ms=round(batched_s * 1000, 1),
        p95_ms=round(percentile([t * 1000 for t in batched], 95), 1),
        baseline_maps_timed=len(per_map),
        baseline_s_per_map=round(float(np.median(per_map)), 3),
        ratio_of_fastest=round(min(per_map) * n_maps / min(batched), 1),
        load_average_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        baseline_desc="seed: sub-model + eager GradientTape, one map at a time, extrapolated",
        desc="OipEngine.run: all maps as one batch in one traced tf.function",
        tracing_count=engine.tracing_count(),
        precision=engine.precision,
    )

    # ---- float32 against the default precision (bfloat16 where the CPU has it) ---------
    exact = OipEngine(trained, precision="float32")
    short = AscentOptions(steps=50)
    timings: dict[str, list[float]] = {"float32": [], engine.precision: []}
    for _ in range(3):
        for name, eng in (("float32", exact), (engine.precision, engine)):
            start = time.perf_counter()
            eng.run(objectives, [0], short)
            timings[name].append(time.perf_counter() - start)
    emit(
        "oip_precision",
        maps=n_maps,
        steps=short.steps,
        float32_s=round(float(np.median(timings["float32"])), 2),
        default_s=round(float(np.median(timings[engine.precision])), 2),
        default_precision=engine.precision,
        ratio=round(float(np.median(timings["float32"]) / np.median(timings[engine.precision])), 2),
    )

    # ---- the work against the machine --------------------------------------------------
    macs = forward_macs(trained.model)
    flop_per_step = 3 * 2 * sum(macs.values())  # backward ~ 2x forward: one step ~ 3 forwards
    total_flop = flop_per_step * n_maps * STEPS
    achieved = total_flop / batched_s / 1e9
    peak = matmul_gflops()
    emit(
        "oip_flops",
        forward_macs_per_image=sum(macs.values()),
        forward_macs_by_layer=macs,
        flop_per_step_per_image=flop_per_step,
        total_gflop=round(total_flop / 1e9, 1),
        batched_s=round(batched_s, 2),
        achieved_gflops=round(achieved, 1),
        matmul_gflops=round(peak, 1),
        fraction_of_matmul_peak=round(achieved / peak, 3),
        precision=engine.precision,
        note="one step ~ 3 forward passes; matmul_gflops: 2048^3 float32 matmul in this run",
    )
    fresh_processes(baseline_s, total_flop, peak, engine.precision)

    # ---- first frame (what the live page waits for) ------------------------------------
    def first_frame(step: int) -> float:
        start = time.perf_counter()
        engine.run([ClassLogit(4) - ClassLogit(9)], [0], options, lambda p: p.step >= step, every=5)
        return (time.perf_counter() - start) * 1000

    for step in (0, 5):
        times = [first_frame(step) for _ in range(10)]
        emit(
            "oip_first_frame",
            frame_step=step,
            p50_ms=round(percentile(times, 50), 1),
            p95_ms=round(percentile(times, 95), 1),
            n=len(times),
        )

    # ---- quality -------------------------------------------------------------------------
    quality("oip_quality_conv2d_3", engine, best, options)
    quality("oip_quality_conv2d_3_post_relu", engine, best, AscentOptions(pre_relu=False))
    quality("oip_quality_conv2d_3_pixel_init", engine, best, AscentOptions(init="pixel"))
    quality("oip_quality_conv2d_3_valid_pixels", engine, best, AscentOptions(valid_pixels=True))

    seeds = range(5)
    dead: dict[str, float] = {}
    for init, wavelength in [("pixel", 8.0), ("long_range", 4.0), ("long_range", 8.0),
                             ("long_range", 14.0), ("long_range", 28.0)]:  # fmt: skip
        counts, pre_counts = [], []
        for seed in seeds:
            images = starting_images([seed] * n_maps, init, wavelength)
            counts.append(int((engine.gradient_rms(objectives, images) == 0).sum()))
            pre_counts.append(
                int((engine.gradient_rms(objectives, images, pre_relu=True) == 0).sum())
            )
        key = "pixel" if init == "pixel" else f"long_range_{wavelength:g}px"
        dead[key] = float(np.mean(counts))
        dead[f"{key}_pre_relu"] = float(np.mean(pre_counts))
    emit(
        "oip_dead_starts",
        layer=LAYER,
        maps=n_maps,
        seeds=len(seeds),
        mean_zero_gradient_maps=dead,
        maps_no_digit_activates=int((best <= 0).sum()),
    )

    units = list(range(0, n_maps, 4))
    seed_list = [0, 1, 2, 3]
    result = engine.run([MapMean(LAYER, u) for u in units], seed_list, options)
    images = result.images.reshape(len(units), len(seed_list), -1)
    corr = []
    for per_unit in images:
        c = np.corrcoef(per_unit)
        corr.extend(c[np.triu_indices(len(seed_list), 1)])
    ratio = ratios_to_best_digit(
        result.activations.reshape(len(units), len(seed_list)), best[units][:, None]
    )
    emit(
        "oip_seeds",
        layer=LAYER,
        maps=len(units),
        seeds=len(seed_list),
        median_correlation_between_seeds=round(float(np.median(corr)), 3),
        max_correlation_between_seeds=round(float(np.max(corr)), 3),
        beats_best_digit=round(float((ratio > 1).mean()), 4),
        maps_every_seed_beats=int((ratio > 1).all(axis=1).sum()),
    )
    colour_figures(peak)


def colour_figures(peak: float) -> None:
    """The same speed and quality figures on the colour example (coloured shapes, 32x32x3)."""
    trained = load_trained(config.shapes_model_path())
    data = load_dataset(config.shapes_model_path().with_suffix(".npz"))
    trained.set_pixel_stats(data.x_train)
    layer = trained.desc.last_map_layer
    acts = ActivationModel(trained)
    best = acts.layer(trained.standardize(data.x_test), layer).mean(axis=(1, 2)).max(axis=0)
    engine = OipEngine(trained)
    objectives = [MapMean(layer, u) for u in range(len(best))]
    options = AscentOptions(steps=STEPS)
    batched, per_map = [], []
    for round_ in range(3):
        start = time.perf_counter()
        engine.run(objectives, [0], options)
        batched.append(time.perf_counter() - start)
        per_map += seed_way_seconds_per_map(trained, [round_], STEPS, layer)
    baseline_s = float(np.median(per_map)) * len(best)
    batched_s = float(np.median(batched))
    macs = forward_macs(trained.model)
    achieved = 3 * 2 * sum(macs.values()) * len(best) * STEPS / batched_s / 1e9
    emit(
        "oip_colour_all_maps",
        model="shapes (32x32x3, Rescaling, BatchNormalization, same padding, GAP)",
        layer=layer,
        maps=len(best),
        steps=STEPS,
        baseline_s=round(baseline_s, 2),
        batched_s=round(batched_s, 2),
        ratio=round(baseline_s / batched_s, 1),
        achieved_gflops=round(achieved, 1),
        fraction_of_matmul_peak=round(achieved / peak, 3),
        precision=engine.precision,
        baseline_desc="seed's way on this model: sub-model + eager GradientTape, one map at a time",
    )
    quality("oip_colour_quality", engine, best, options, layer)
    quality(
        "oip_colour_quality_valid_pixels", engine, best, AscentOptions(valid_pixels=True), layer
    )


def engine_seconds(precision: str) -> float:
    """All Conv2D_3 maps x `STEPS` in this process with a new engine: the best of two runs."""
    engine = OipEngine(load_trained(), precision=precision)
    objectives = [MapMean(LAYER, u) for u in range(engine.description.layer(LAYER).units)]
    engine.run(objectives, [0], AscentOptions(steps=5))
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        engine.run(objectives, [0], AscentOptions(steps=STEPS))
        runs.append(time.perf_counter() - start)
    return min(runs)


def fresh_processes(baseline_s: float, total_flop: float, peak: float, default: str) -> None:
    """The batched run in new processes, per precision: on a shared VM the same work takes up
    to 1.6x longer in one process than in another, whatever its precision."""
    for precision in dict.fromkeys((default, "float32")):
        seconds = []
        for _ in range(FRESH_PROCESSES):
            out = subprocess.run(
                [sys.executable, __file__, "--engine-seconds", precision],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            seconds.append(float(out.stdout.strip().splitlines()[-1]))
        emit(
            "oip_all_maps_fresh_processes",
            precision=precision,
            processes=FRESH_PROCESSES,
            seconds=[round(t, 2) for t in seconds],
            min_s=round(min(seconds), 2),
            median_s=round(float(np.median(seconds)), 2),
            ratio_to_seed_way=[round(baseline_s / t, 1) for t in (max(seconds), min(seconds))],
            fraction_of_matmul_peak=[
                round(total_flop / t / 1e9 / peak, 3) for t in (max(seconds), min(seconds))
            ],
            desc="128 maps x 200 steps, best of 2 runs, one new process each; ratios and peak "
            "fractions for the slowest and fastest process, against this run's seed-way time",
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--engine-seconds"]:
        print(engine_seconds(sys.argv[2]))
    else:
        main()
