"""The OIP engine on the real trained CNN: objectives rise, batches are exact, stops and errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cnn_core.model.seed import build_seed_cnn
from cnn_core.model.trained import TrainedModel
from cnn_core.oip import (
    AscentOptions,
    ClassLogit,
    MapMean,
    Node,
    OipEngine,
    OipError,
    OipProgress,
    engine_for,
    optimize_maps,
    starting_images,
)


@pytest.fixture(scope="module")
def engine(trained) -> OipEngine:
    """The process's engine for the trained model, the one `optimize_maps` uses too (built and
    traced once for both)."""
    return engine_for(trained)


@pytest.fixture(scope="module")
def best_digit_map_means(acts, data) -> np.ndarray:
    """`(128,)` the highest Conv2D_3 map mean over the 1,000 test digits, per map."""
    conv3 = acts.layer(acts.trained.standardize(data.x_test), "Conv2D_3")
    return conv3.mean(axis=(1, 2)).max(axis=0)


def live_map(best: np.ndarray) -> int:
    """A Conv2D_3 map that real digits do activate."""
    return int(np.argmax(best))


def test_engine_forward_pass_matches_the_keras_model(engine, trained, acts, data):
    x = trained.standardize(data.x_test[:64])
    values, proba = engine.evaluate([MapMean("Conv2D_2", 7)] * 64, x)
    np.testing.assert_allclose(proba, np.asarray(trained.model(x)), atol=1e-5)
    expected = acts.layer(x, "Conv2D_2")[..., 7].mean(axis=(1, 2))
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-5)
    logits, _ = engine.evaluate([ClassLogit(3) - ClassLogit(5)] * 64, x)
    log_p = np.log(np.asarray(trained.model(x)))
    # softmax logits are defined up to a constant: differences of log-probabilities match
    np.testing.assert_allclose(logits, log_p[:, 3] - log_p[:, 5], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "objective",
    [None, Node("Dense_1", 7), ClassLogit(4), ClassLogit(4) - ClassLogit(9)],
    ids=["map", "node", "class", "contrast"],
)
def test_objective_rises_over_the_first_ten_steps(engine, best_digit_map_means, objective):
    if objective is None:
        objective = MapMean("Conv2D_3", live_map(best_digit_map_means))
    result = engine.run([objective], [0, 1], AscentOptions(steps=10))
    assert result.history.shape == (10, 2)
    assert np.all(result.activations > result.initial)
    # mostly monotone: the last value is the best of the run's values
    assert np.all(result.history[-1] >= result.history[:5].max(axis=0))


def test_result_has_the_documented_shapes_and_its_own_probabilities(engine, trained):
    objectives = [MapMean("Conv2D_1", 3), Node("Flatten", 100), ClassLogit(2)]
    result = engine.run(objectives, [5, 6], AscentOptions(steps=3))
    assert result.images.shape == (6, 28, 28) and result.images.dtype == np.float32
    assert result.history.shape == (3, 6) and result.history.dtype == np.float32
    assert result.activations.shape == (6,) and result.probabilities.shape == (6, 10)
    assert result.seeds == [5, 6, 5, 6, 5, 6]
    assert result.descriptions[::2] == ["Conv2D_1 map 3", "Flatten node 100", "logit 2"]
    assert not result.stopped and result.steps_done == 3
    np.testing.assert_allclose(result.history[-1], result.activations, rtol=1e-5)
    model_proba = np.asarray(trained.model(result.images[..., None]))
    np.testing.assert_allclose(result.probabilities, model_proba, atol=1e-5)


def test_batched_and_one_by_one_give_the_same_images(engine):
    objectives = [MapMean("Conv2D_3", 10), Node("Dense_1", 2), ClassLogit(7)]
    options = AscentOptions(steps=20, jitter=2, tv=0.05)
    batched = engine.run(objectives, [11, 12], options)
    for i, (objective, seed) in enumerate(zip(batched.objectives, batched.seeds, strict=True)):
        alone = engine.run([objective], [seed], options)
        np.testing.assert_allclose(alone.images[0], batched.images[i], atol=1e-4)
        np.testing.assert_allclose(alone.history[:, 0], batched.history[:, i], rtol=1e-4)


@pytest.mark.parametrize("jitter", [0, 2], ids=["no-jitter", "jitter"])
def test_an_image_in_a_batch_of_32_equals_it_alone_after_200_steps(engine, jitter):
    # bfloat16 (the default here when the CPU has it) runs without jitter; jitter runs float32
    options = AscentOptions(steps=200, jitter=jitter)
    batch = engine.run([MapMean("Conv2D_3", u) for u in range(32)], [0], options)
    alone = engine.run([MapMean("Conv2D_3", 5)], [0], options)
    np.testing.assert_allclose(alone.images[0], batch.images[5], atol=1e-4)


def test_same_seed_same_result_different_seeds_different_images(engine, best_digit_map_means):
    objective = MapMean("Conv2D_3", live_map(best_digit_map_means))
    result = engine.run([objective], [1, 2, 1], AscentOptions(steps=60))
    np.testing.assert_array_equal(result.images[0], result.images[2])
    corr = np.corrcoef(result.images[0].ravel(), result.images[1].ravel())[0, 1]
    assert corr < 0.9
    assert np.all(result.activations > best_digit_map_means[objective.terms[0][1].unit])


def test_no_retracing_for_any_objective_or_batch_size(engine):
    options = AscentOptions(steps=2)
    engine.run([MapMean("Conv2D_3", 0)], [0], AscentOptions(steps=1, jitter=1))  # float32 graph
    traced = engine.tracing_count()
    engine.run([MapMean("Max_Pool_1", 0)], [0], options)
    engine.run(
        [Node("Flatten", 5), ClassLogit(1) - 0.5 * ClassLogit(2)], [0, 1, 2], options, every=1
    )
    engine.run([MapMean("Conv2D_3", u) for u in range(17)], [3], AscentOptions(steps=3, jitter=1))
    # one graph per precision for the engine's whole life (jitter runs use float32)
    assert engine.tracing_count() == traced == (1 if engine.precision == "float32" else 2)


def test_stop_request_ends_the_loop_at_the_next_callback(engine):
    frames: list[OipProgress] = []

    def stop_after_ten(progress: OipProgress) -> bool:
        frames.append(progress)
        return progress.step >= 10

    result = engine.run([ClassLogit(8)], [0], AscentOptions(steps=100), stop_after_ten, every=5)
    assert [f.step for f in frames] == [0, 5, 10]
    assert result.stopped and result.steps_done == 10 and result.history.shape == (10, 1)
    np.testing.assert_allclose(frames[-1].images, result.images)
    assert frames[0].images.shape == (1, 28, 28) and frames[0].values.shape == (1,)
    assert frames[0].steps == 100


def test_callback_sees_every_frame_to_the_end_when_not_stopped(engine):
    steps: list[int] = []
    result = engine.run(
        [Node("Dense_1", 1)], [0], AscentOptions(steps=12), lambda p: steps.append(p.step), 5
    )
    assert steps == [0, 5, 10, 12] and not result.stopped
    stopped_at_start = engine.run(
        [Node("Dense_1", 1)], [0], AscentOptions(steps=12), lambda p: True
    )
    assert stopped_at_start.stopped and stopped_at_start.steps_done == 0
    assert stopped_at_start.history.shape == (0, 1)


def test_two_threads_can_run_at_once_with_the_results_of_running_alone(engine):
    jobs = {
        "map": ([MapMean("Conv2D_2", 4)], [1]),
        "class": ([ClassLogit(6), ClassLogit(0)], [2, 3]),
    }
    options = AscentOptions(steps=30)
    alone = {name: engine.run(*job, options) for name, job in jobs.items()}
    together: dict[str, object] = {}

    def work(name: str) -> None:
        together[name] = engine.run(*jobs[name], options, callback=lambda p: None, every=3)

    threads = [threading.Thread(target=work, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in jobs:
        np.testing.assert_allclose(together[name].images, alone[name].images, atol=1e-5)


@pytest.mark.slow
def test_conv2d_3_oips_beat_the_best_test_digit(trained, best_digit_map_means):
    result = optimize_maps(trained, "Conv2D_3", "all", steps=200, seed=0)
    assert result.images.shape == (128, 28, 28)
    beats = result.activations > best_digit_map_means
    assert beats.mean() >= 0.98
    alive = best_digit_map_means > 0
    assert np.median(result.activations[alive] / best_digit_map_means[alive]) >= 2


def test_optimize_maps_takes_any_layer(trained):
    logits = optimize_maps(trained, "Dense_2", "all", steps=2)
    assert logits.descriptions == [f"logit {k}" for k in range(10)]
    nodes = optimize_maps(trained, "Dense_1", [0, 99], steps=2, seed=4, jitter=1)
    assert nodes.descriptions == ["Dense_1 node 0", "Dense_1 node 99"] and nodes.seeds == [4, 4]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (dict(layer="Conv2D_9", units=[0]), "unknown layer"),
        (dict(layer="Conv2D_3", units=[128]), "Conv2D_3 map 128 does not exist: choose 0-127"),
        (dict(layer="Conv2D_1", units=[-1]), ">= 0"),
        (dict(layer="Conv2D_1", units="some"), "'all'"),
        (dict(layer="Conv2D_1", units=[]), "no units"),
        (dict(layer="Dense_2", units=[10]), "0-9"),
        (dict(layer="Conv2D_1", units=[0], steps=0), "steps must be between 1"),
        (dict(layer="Conv2D_1", units=[0], steps=2.5), "steps must be an integer"),
        (dict(layer="Conv2D_1", units=[0], step_size=-0.1), "step_size"),
        (dict(layer="Conv2D_1", units=[0], init="fourier"), "init"),
        (dict(layer="Conv2D_1", units=[0], pre_relu="yes"), "pre_relu"),
        (dict(layer="Conv2D_1", units=[0], lr=0.1), "unknown option"),
        (dict(layer="Conv2D_1", units=[0], seed=-3), "seed"),
        (dict(layer="Conv2D_1", units=[0], every=0), "every"),
    ],
)
def test_bad_layer_unit_and_step_values_raise_clear_errors(trained, call, message):
    args = dict(steps=2) | call
    with pytest.raises(OipError, match=message.replace("(", r"\(")):
        optimize_maps(trained, **args)


def test_run_rejects_non_objectives_and_empty_requests(engine):
    with pytest.raises(OipError, match="not an objective"):
        engine.run(["Conv2D_3 map 1"], [0])  # type: ignore[list-item]
    with pytest.raises(OipError, match="at least one"):
        engine.run([ClassLogit(1)], [])


def box_filter_net(thresholds: np.ndarray) -> TrainedModel:
    """The seed architecture with every conv kernel a box average; Conv2D_3 map k fires only
    where the local mean of its input exceeds `thresholds[k]`."""
    model = build_seed_cnn(l2=0)
    for name in ("Conv2D_1", "Conv2D_2", "Conv2D_3"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[:] = 1.0 / np.prod(kernel.shape[:3])
        bias[:] = -thresholds if name == "Conv2D_3" else 0.0
        layer.set_weights([kernel, bias])
    return TrainedModel(model, {"normalization": {"mean": 0.0, "std": 1.0}})


def test_pixel_noise_starts_dead_where_long_range_noise_does_not_on_a_box_filter_net():
    # Per-pixel noise averages out over a deep map's receptive field; smooth noise does not.
    small = OipEngine(box_filter_net(np.linspace(0.5, 0.65, 128, dtype=np.float32)))
    objectives = [MapMean("Conv2D_3", u) for u in range(128)]
    for seed in range(3):
        zero = {}
        for init in ("pixel", "long_range"):
            images = starting_images([seed] * 128, init)
            zero[init] = int((small.gradient_rms(objectives, images) == 0).sum())
        assert zero == {"pixel": 128, "long_range": 0}
    plain = dict(steps=20, pre_relu=False, blur_every=0)  # nothing but the gradient moves it
    pixel = small.run(objectives[:1], [0], AscentOptions(init="pixel", **plain))
    smooth = small.run(objectives[:1], [0], AscentOptions(init="long_range", **plain))
    assert pixel.activations[0] == 0 and np.all(pixel.history == 0)  # a dead start never moves
    assert smooth.activations[0] > smooth.initial[0] > 0
    revived = small.run(
        objectives[:1], [0], AscentOptions(init="pixel", **plain | {"pre_relu": True})
    )
    assert revived.activations[0] > 0  # ascending the value before the ReLU revives it


def test_pre_relu_gradient_is_never_zero_on_the_trained_cnn(engine):
    objectives = [MapMean("Conv2D_3", u) for u in range(128)]
    images = starting_images([0] * 128, "pixel")
    assert np.all(engine.gradient_rms(objectives, images, pre_relu=True) > 0)
    assert np.any(engine.gradient_rms(objectives, images, pre_relu=False) == 0)


def test_float32_engine_agrees_with_the_default_engine(trained, engine):
    exact = OipEngine(trained, precision="float32")
    assert exact.precision == "float32" and engine.precision in ("float32", "bfloat16")
    objectives = [MapMean("Conv2D_3", u) for u in range(0, 128, 16)] + [ClassLogit(3)]
    options = AscentOptions(steps=30)
    a, b = exact.run(objectives, [0], options), engine.run(objectives, [0], options)
    assert np.all(a.activations > a.initial) and np.all(b.activations > b.initial)
    np.testing.assert_allclose(a.initial, b.initial, rtol=1e-6)  # reported values are float32
    np.testing.assert_allclose(b.activations, a.activations, rtol=0.25, atol=0.02)


def test_unknown_precision_is_an_oip_error(trained):
    with pytest.raises(OipError, match="precision must be one of auto, float32, bfloat16"):
        OipEngine(trained, precision="float16")
