"""OIP quality per parameterization: strength, robustness, spectrum, path (issue #23).

For the seed, the colour example and the residual example, every unit of the last map node is
optimized (one batch) per mode, and `cnn_core.oip.trust.trust_report` checks each OIP against
the model's own test images: the share beating the best test image, the median robustness to
unseen shifts/scales/rotations, the high-frequency share against the data's, the path check.
Then the diversity run (4 images per unit) against the same run without diversity, and the speed
of fourier + transforms against pixel for the same steps on MobileNetV2 (alpha 0.35, 96x96).

`python bench/oip_quality.py [--quick] [--only seed,shapes,residual,mobilenet]` prints one
JSON line per figure (`--quick`: fewer steps and units, to check that it runs).
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np
from _common import comparison, emit

from cnn_core import config
from cnn_core.data.sources import load_dataset, load_mnist
from cnn_core.explain.activations import ActivationModel
from cnn_core.model.trained import TrainedModel, load_trained
from cnn_core.oip import AscentOptions, MapMean, OipEngine, engine_for
from cnn_core.oip.trust import trust_report

QUICK = "--quick" in sys.argv
#: `--only shapes,residual`: the examples to measure (default all three, then MobileNetV2).
ONLY = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
STEPS = 40 if QUICK else 200
MODES: dict[str, dict[str, object]] = {
    "pixel": {},
    "pixel_valid": dict(valid_pixels=True),
    "fourier+transforms": dict(parameterization="fourier", transforms="standard"),
    "fourier+transforms_decay2": dict(
        parameterization="fourier", transforms="standard", decay_power=2.0
    ),
    "fourier+transforms_decay3": dict(  # the default of colour and larger models
        parameterization="fourier", transforms="standard", decay_power=3.0
    ),
    "maco": dict(parameterization="maco"),
    "maco+transforms": dict(parameterization="maco", transforms="standard"),
}
DIVERSITY_UNITS = 4 if QUICK else 16
DIVERSITY_LAMBDAS = (0.3, 1.0, 3.0)
DIVERSITY_SEEDS = (0,) if QUICK else (0, 1)


def models() -> list[tuple[str, TrainedModel, np.ndarray, np.ndarray]]:
    """`(name, trained, train images, test images)` of the three examples, pixel units."""
    seed = load_mnist()
    out = [("seed", load_trained(), seed.x_train, seed.x_test)]
    for name, path in (
        ("shapes", config.shapes_model_path()),
        ("residual", config.residual_model_path()),
    ):
        trained = load_trained(path)
        data = load_dataset(path.with_suffix(".npz"))
        trained.set_pixel_stats(data.x_train)
        out.append((name, trained, data.x_train, data.x_test))
    return out


def quality(name: str, engine: OipEngine, test: np.ndarray) -> None:
    layer = engine.description.last_map_layer
    units = engine.description.layer(layer).units
    objectives = [MapMean(layer, u) for u in range(units if not QUICK else min(units, 16))]
    for mode, extra in MODES.items():
        options = AscentOptions(steps=STEPS, **extra)  # type: ignore[arg-type]
        start = time.perf_counter()
        result = engine.run(objectives, [0], options)
        seconds = time.perf_counter() - start
        report = trust_report(engine, result, test)
        emit(
            "oip_quality",
            model=name,
            layer=layer,
            units=len(objectives),
            mode=mode,
            steps=STEPS,
            beats_best_test_image=round(float(report.beats.mean()), 4),
            median_ratio=round(float(np.median(report.ratio)), 2),
            units_at_zero=int((report.activation <= 0).sum()),
            median_robustness=round(float(np.nanmedian(report.robustness)), 3),
            robust_share=round(float(report.robust.mean()), 3),
            median_high_frequency=round(float(np.median(report.high_frequency)), 4),
            data_high_frequency=round(report.data_high_frequency, 4),
            high_frequency_vs_data=round(
                float(np.median(report.high_frequency)) / report.data_high_frequency, 2
            ),
            natural_share=round(float(report.natural.mean()), 3),
            path_ok_share=round(float(report.path_ok.mean()), 3),
            all_checks_share=round(float((report.passed == report.checked).mean()), 3),
            seconds=round(seconds, 2),
            example_summary=report.summaries[0],
        )


def mean_gram_cosine(acts: ActivationModel, images: np.ndarray, layer: str) -> np.ndarray:
    """`(n,)` mean pairwise cosine of the Gram matrices at `layer` within each unit's k images."""
    n, k = images.shape[:2]
    a = acts.layer(images.reshape(n * k, *images.shape[2:]), layer)
    flat = a.reshape(n * k, -1, a.shape[-1]).astype(np.float64)
    gram = np.einsum("npc,npd->ncd", flat, flat).reshape(n, k, -1)
    gram /= np.linalg.norm(gram, axis=2, keepdims=True) + 1e-10
    cos = np.einsum("nip,njp->nij", gram, gram)
    return (cos.sum(axis=(1, 2)) - np.trace(cos, axis1=1, axis2=2)) / (k * (k - 1))


def diversity(name: str, engine: OipEngine) -> None:
    layer = engine.description.last_map_layer
    units = engine.description.layer(layer).units
    step = max(1, units // DIVERSITY_UNITS)
    objectives = [MapMean(layer, u) for u in range(0, units, step)][:DIVERSITY_UNITS]
    acts = ActivationModel(engine.trained)
    base = dict(
        steps=STEPS, parameterization="fourier", transforms="standard", decay_power=3.0,
        images_per_unit=4,
    )  # fmt: skip
    for seed in DIVERSITY_SEEDS:
        plain = engine.run(objectives, [seed], AscentOptions(**base))  # type: ignore[arg-type]
        plain_cos = mean_gram_cosine(acts, plain.images, layer)
        unit_mean = plain.activations.mean(axis=1, keepdims=True)
        plain_at_70 = round(float((plain.activations / unit_mean >= 0.7).mean()), 3)
        for lam in DIVERSITY_LAMBDAS:
            options = AscentOptions(**base, diversity=lam)  # type: ignore[arg-type]
            diverse = engine.run(objectives, [seed], options)
            cos = mean_gram_cosine(acts, diverse.images, layer)
            kept = diverse.activations / unit_mean
            own = diverse.activations / plain.activations  # against the λ=0 image, same seed
            emit(
                "oip_diversity",
                model=name,
                layer=layer,
                units=len(objectives),
                images_per_unit=4,
                seed=seed,
                diversity=lam,
                mode="fourier+transforms_decay3",
                mean_gram_cosine_plain=round(float(plain_cos.mean()), 4),
                mean_gram_cosine=round(float(cos.mean()), 4),
                units_with_lower_cosine=int((cos < plain_cos).sum()),
                activation_kept_median=round(float(np.median(kept)), 3),
                activation_kept_min=round(float(kept.min()), 3),
                images_keeping_70_percent=round(float((kept >= 0.7).mean()), 3),
                plain_images_at_70_percent_of_their_units_mean=plain_at_70,
                same_seed_kept_median=round(float(np.median(own)), 3),
                same_seed_kept_min=round(float(own.min()), 3),
                same_seed_images_keeping_70_percent=round(float((own >= 0.7).mean()), 3),
            )


def mobilenet_speed() -> None:
    model = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )
    trained = TrainedModel(model)
    maps = trained.desc.map_layers
    node = maps[len(maps) // 2]
    engine = engine_for(trained, node)
    objectives = [MapMean(node, u) for u in range(4)]
    steps = 10 if QUICK else 50
    timings: dict[str, list[float]] = {"pixel": [], "fourier+transforms": []}
    options = {
        "pixel": AscentOptions(steps=steps),
        "fourier+transforms": AscentOptions(
            steps=steps, parameterization="fourier", transforms="standard", decay_power=3.0
        ),
    }
    for name in options:  # warm both
        engine.run(objectives, [0], AscentOptions(steps=2, **_extra(options[name])))
    for _ in range(2 if QUICK else 4):  # interleaved: both see the same load
        for name, opts in options.items():
            start = time.perf_counter()
            engine.run(objectives, [0], opts)
            timings[name].append((time.perf_counter() - start) * 1000)
    comparison(
        "oip_quality_mobilenet_speed",
        timings["pixel"],
        timings["fourier+transforms"],
        model="MobileNetV2 alpha 0.35, 96x96x3, weights=None",
        node=node,
        maps=len(objectives),
        steps=steps,
        baseline_desc="pixel parameterization (the default)",
        desc="fourier + standard transforms; ratio = pixel / fourier (>= 0.77 meets <= 1.3x)",
    )


def _extra(options: AscentOptions) -> dict[str, object]:
    return dict(parameterization=options.parameterization, transforms=options.transforms)


def main() -> None:
    for name, trained, train, test in models():
        if ONLY is not None and name not in ONLY:
            continue
        engine = OipEngine(trained, spectrum_images=train[:2000])
        quality(name, engine, test[:1000])
        if name != "seed":
            diversity(name, engine)
    if ONLY is None or "mobilenet" in ONLY:
        mobilenet_speed()


if __name__ == "__main__":
    main()
