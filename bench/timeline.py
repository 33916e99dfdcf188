"""Training timeline: an epoch-slider update and the OIPs of 8 units at every epoch.

Slider: the page's `draw` callback called directly (the digit's grid at that epoch from the
checkpoint's traced activation model, accuracy curve, confusion matrix, the pair's confusions
over all epochs), then serialized with `plotly.io.to_json` as Dash does. Baseline, in the same
run: what a direct implementation does per move, load the checkpoint file and compute the
digit's activations and the test split's predictions with it. Goal (issue 15): p95 <= 200 ms.

OIPs: 8 Conv2D_3 maps x 21 checkpoints x 200 steps as ONE batched run (`Timeline.oips`,
an engine over every checkpoint) against one batch of 168 images through the final model,
same steps. Goal: <= 3x. The engine's build (tracing 21 models' layers once) is reported apart.
Measured on the seed model and its own checkpoints (`make train` writes them).
"""

from __future__ import annotations

import itertools
import os
import random
import time

import keras
import numpy as np
import plotly.io as pio
from _common import comparison, emit, time_calls

from app.main import create_app
from cnn_core.oip import AscentOptions, MapMean

LAYER, UNITS, STEPS = "Conv2D_3", list(range(8)), 200


def main() -> None:
    create_app()
    from app.digits import dataset_choice
    from app.pages.timeline.callbacks import draw
    from app.services import get_services

    services = get_services()
    timeline = services.timeline()
    x, labels = services.x_std["test"], services.data.y_test
    timeline.warm(x, labels)  # what the page's warm-up thread does after start-up
    epochs = timeline.epochs
    rng = random.Random(0)
    digits = itertools.cycle(range(100))

    def ours() -> None:
        figures = draw(dataset_choice("test", next(digits)), rng.choice(epochs), "Conv2D_1",
                       "jet", 4, 9)  # fmt: skip
        for key in ("grid", "accuracy", "confusion", "pair"):
            pio.to_json(figures[key])

    def baseline() -> None:
        checkpoint = timeline.checkpoints[rng.randrange(len(epochs))]
        model = keras.saving.load_model(checkpoint.path, compile=False)
        sub = keras.Model(model.inputs[0], model.get_layer("Conv2D_1").output)
        sub(x[next(digits)][None])
        model(x, training=False)

    base = time_calls(baseline, repeats=10)
    mine = time_calls(ours, repeats=60, warmup=3)
    comparison(
        "timeline_slider",
        base,
        mine,
        epochs=len(epochs),
        goal_p95_ms=200,
        load_average_1min=round(os.getloadavg()[0], 2),
        baseline_desc="per move: load the checkpoint, its sub-model, the test predictions",
        desc="draw callback: grid at the epoch, accuracy, confusion, pair over epochs; to_json",
    )

    start = time.perf_counter()
    engine = timeline.oip_engine()
    emit("timeline_oip_engine_build", seconds=round(time.perf_counter() - start, 1),
         checkpoints=len(epochs), precision=engine.precision)  # fmt: skip
    options = AscentOptions(steps=STEPS)
    single = services.oip_engine()
    objectives = [MapMean(LAYER, u % 128) for u in range(len(UNITS) * len(epochs))]
    batch, runs = [], []
    for _ in range(3):  # interleaved: both see the same load
        start = time.perf_counter()
        single.run(objectives, [0], options)
        batch.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = timeline.oips(LAYER, UNITS, steps=STEPS)
        runs.append(time.perf_counter() - start)
    emit(
        "timeline_oips",
        units=len(UNITS),
        epochs=len(epochs),
        steps=STEPS,
        images=len(result.activations),
        one_batch_s=round(float(np.median(batch)), 2),
        timeline_s=round(float(np.median(runs)), 2),
        ratio_to_one_batch=round(float(np.median(runs) / np.median(batch)), 2),
        goal_ratio=3.0,
        tracing_count=engine.tracing_count(),
        load_average_1min=round(os.getloadavg()[0], 2),
        desc="8 maps x 21 checkpoints x 200 steps in one batched run vs 168 images, one model",
    )


if __name__ == "__main__":
    main()
