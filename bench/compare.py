"""The Compare page's work: the seed's per-digit way against cnn-lens, measured in the same run.

1. Activations of the compared digits (3 + 3 at Conv2D_3): the seed builds
   `Model(input, layer.output)` and calls `predict` per digit; cnn-lens makes one call of the
   traced multi-output graph for all six.
2. Class statistics over the whole test split (mean per class, ranking): recomputed for every
   request, or read from `StatisticsCache` (computed once per process).
3. The whole comparison computation of one request (pick examples, activations, common points,
   ranking) with a warm cache.
"""

from __future__ import annotations

import keras
from _common import comparison, emit, time_calls

from cnn_core.data.sources import load_mnist
from cnn_core.explain.activations import ActivationModel
from cnn_core.explain.compare import (
    StatisticsCache,
    common_points,
    layer_statistics,
    pick_examples,
    rank_units,
)
from cnn_core.model.trained import load_trained

# This bench is about the seed model: its Conv2D_3 and its 4s and 9s, as in article VI.
LAYER = "Conv2D_3"


def main() -> None:
    trained = load_trained()
    data = load_mnist()
    acts = ActivationModel(trained)
    x = trained.standardize(data.x_test)
    labels = data.y_test
    proba = acts.predict_proba_batched(x)
    ia = pick_examples(labels, proba, 4, 9, 3, "clear")
    ib = pick_examples(labels, proba, 9, 4, 3, "clear")
    chosen = x[list(ia) + list(ib)]

    def seed_way() -> None:
        model = trained.model
        for i in range(len(chosen)):
            sub = keras.Model(model.input, model.get_layer(LAYER).output)
            sub.predict(chosen[i : i + 1], verbose=0)

    ours = time_calls(lambda: acts.layer(chosen, LAYER), repeats=200, warmup=5)
    baseline = time_calls(seed_way, repeats=8)
    comparison(
        "compare_activations_6_digits",
        baseline,
        ours,
        baseline_desc="seed: Model(input, layer.output).predict per digit (6 digits)",
        desc="ActivationModel.layer on the 6 digits in one call",
        layer=LAYER,
    )

    cache = StatisticsCache(acts, x, labels)
    first = time_calls(lambda: cache.get(LAYER), repeats=1, warmup=0)
    cached = time_calls(lambda: rank_units(cache.get(LAYER), 4, 9), repeats=200, warmup=5)
    uncached = time_calls(
        lambda: rank_units(layer_statistics(acts, x, labels, LAYER), 4, 9), repeats=6, warmup=1
    )
    comparison(
        "compare_statistics_per_request",
        uncached,
        cached,
        baseline_desc=f"class statistics of {len(x)} test digits recomputed for the request",
        desc="StatisticsCache (computed once per process) + ranking",
        layer=LAYER,
        first_computation_ms=round(first[0], 1),
    )

    def request() -> None:
        a = pick_examples(labels, proba, 4, 9, 3, "clear")
        b = pick_examples(labels, proba, 9, 4, 3, "clear")
        out = acts.layer(x[list(a) + list(b)], LAYER)
        common_points(out[:3], out[3:], 0.1)
        common_points(out[3:], out[:3], 0.1)
        rank_units(cache.get(LAYER), 4, 9)

    total = sorted(time_calls(request, repeats=100, warmup=5))
    emit(
        "compare_request_core",
        p50_ms=round(total[len(total) // 2], 3),
        p95_ms=round(total[int(len(total) * 0.95)], 3),
        desc="pick 3+3 examples, activations, red/yellow masks both ways, ranking (warm cache)",
        layer=LAYER,
    )


if __name__ == "__main__":
    main()
