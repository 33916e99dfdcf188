"""Parameterizations, standard transforms and diversity of the OIP engine on trained models."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from cnn_core.model.trained import load_trained
from cnn_core.oip import AscentOptions, ClassLogit, MapMean, OipEngine, OipError, engine_for
from cnn_core.oip.params import (
    COLOR_CORRELATION,
    mean_amplitude_spectrum,
    parameter_size,
    rfft2d_freqs,
)
from cnn_core.oip.transforms import tf_affine_each, tf_random_affine

SPECTRAL = [
    dict(parameterization="fourier"),
    dict(parameterization="fourier", transforms="standard"),
    dict(parameterization="maco"),
    dict(parameterization="pixel", transforms="standard", valid_pixels=True),
]
IDS = ["fourier", "fourier+transforms", "maco", "pixel+transforms"]


@pytest.fixture(scope="module")
def colour(shapes_path, shapes_data) -> OipEngine:
    """An engine of the colour example (32x32x3 raw pixels, BatchNorm, GAP), MACO's spectrum
    from its own training images."""
    trained = load_trained(shapes_path)
    trained.set_pixel_stats(shapes_data.x_train)
    return OipEngine(trained, spectrum_images=shapes_data.x_train[:500])


@pytest.fixture(scope="module")
def seed_engine(trained) -> OipEngine:
    return engine_for(trained)


def pixels(engine: OipEngine, images: np.ndarray) -> np.ndarray:
    return engine.trained.unstandardize(images)


@pytest.mark.parametrize("mode", SPECTRAL, ids=IDS)
def test_every_parameterization_gives_valid_colour_images_and_the_objective_rises(colour, mode):
    objectives = [MapMean("conv3", 5), ClassLogit(2)]
    result = colour.run(objectives, [0, 1], AscentOptions(steps=20, **mode))
    assert result.images.shape == (4, 32, 32, 3) and result.images.dtype == np.float32
    px = pixels(colour, result.images)
    assert px.min() >= -1e-3 and px.max() <= 255 + 1e-3
    assert np.all(result.activations > result.initial)
    np.testing.assert_allclose(result.history[-1], result.activations, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["fourier", "maco"])
def test_spectral_parameterizations_work_on_the_grey_seed(seed_engine, kind):
    result = seed_engine.run(
        [MapMean("Conv2D_3", 3)], [0], AscentOptions(steps=8, parameterization=kind)
    )
    assert result.images.shape == (1, 28, 28)
    px = pixels(seed_engine, result.images)
    assert px.min() >= -1e-3 and px.max() <= 255 + 1e-3
    assert result.activations[0] > result.initial[0]


def test_fourier_start_is_a_near_flat_image_at_the_data_mean(colour):
    result = colour.run([ClassLogit(0)], [3], AscentOptions(steps=1, parameterization="fourier"))
    px = pixels(colour, result.images)
    mean_pixel = colour.trained.pixel_stats[0]
    # one Adam step of 0.05 from a spectrum of spread 0.01: still close to the data's mean
    assert abs(float(px.mean()) - mean_pixel) < 25 and px.std() < 30


def test_parameter_sizes_follow_the_spectrum():
    assert parameter_size("pixel", (28, 28, 1)) == 784
    assert parameter_size("fourier", (32, 32, 3)) == 2 * 3 * 32 * 17
    assert parameter_size("maco", (28, 28, 1)) == 28 * 15
    freqs = rfft2d_freqs(8, 8)
    assert freqs.shape == (8, 5) and freqs[0, 0] == 0 and np.isclose(freqs.max(), np.sqrt(0.5))
    assert np.isclose(np.linalg.norm(COLOR_CORRELATION, axis=0).max(), 1.0)


def test_mean_amplitude_spectrum_is_per_channel_and_refuses_no_images(shapes_data):
    spectrum = mean_amplitude_spectrum(shapes_data.x_train[:50])
    assert spectrum.shape == (3, 32, 17) and np.all(spectrum >= 0)
    with pytest.raises(OipError, match="images"):
        mean_amplitude_spectrum(np.zeros((0, 32, 32, 3)))


def test_set_spectrum_checks_the_shape(colour, shapes_data):
    with pytest.raises(OipError, match="32, 32, 3"):
        colour.set_spectrum(np.zeros((4, 28, 28)))
    colour.set_spectrum(shapes_data.x_train[:500])
    assert colour.spectrum_source == "500 training images"


def test_affine_transform_shifts_exactly_and_passes_gradients():
    x = tf.constant(np.random.default_rng(0).standard_normal((2, 9, 9, 1)).astype(np.float32))
    np.testing.assert_allclose(tf_affine_each(x, tf.constant([[0, 0, 1, 0, 0.0]])), x, atol=1e-6)
    shifted = tf_affine_each(x, tf.constant([[1, 2, 1, 0, 0.0]])).numpy()
    np.testing.assert_allclose(shifted[:, 1:, 2:], x.numpy()[:, :-1, :-2], atol=1e-6)
    assert np.all(shifted[:, 0] == 0)  # filled
    with tf.GradientTape() as tape:
        tape.watch(x)
        rotated = tf_affine_each(x, tf.constant([[0.3, -0.7, 1.05, 0.1, 0.0]]))
        total = tf.reduce_sum(rotated)
    assert float(tf.reduce_sum(tf.abs(tape.gradient(total, x)))) > 0
    draws = tf_random_affine(tf.constant([[0, 1], [0, 1], [0, 2]]), 1.5).numpy()
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.allclose(draws[0], draws[2]) and np.all(np.abs(draws[:, :2]) <= 1.5)
    assert np.all((draws[:, 2] >= 0.9) & (draws[:, 2] <= 1.1))


@pytest.mark.parametrize("mode", SPECTRAL, ids=IDS)
def test_an_image_in_a_batch_equals_it_alone_in_every_mode(colour, mode):
    options = AscentOptions(steps=12, **mode)
    objectives = [MapMean("conv3", u) for u in range(6)]
    batch = colour.run(objectives, [4], options)
    alone = colour.run([objectives[2]], [4], options)
    np.testing.assert_allclose(alone.images[0], batch.images[2], atol=1e-3)


def test_no_mode_retraces_the_engine(colour):
    colour.run(  # runs with diversity have their own graph, traced at their first run
        [MapMean("conv3", 0)], [0], AscentOptions(steps=2, images_per_unit=3, diversity=10.0)
    )
    traced = colour.tracing_count()
    for mode in SPECTRAL:
        colour.run([MapMean("conv2", 1)], [0, 1, 2], AscentOptions(steps=2, **mode))
    colour.run(
        [MapMean("conv3", 1), MapMean("conv2", 0)],
        [3],
        AscentOptions(steps=2, images_per_unit=2, diversity=0.5, **SPECTRAL[1]),
    )
    assert colour.tracing_count() == traced


def gram_cosines(engine: OipEngine, images: np.ndarray, layer: str) -> np.ndarray:
    """Mean pairwise cosine of the Gram matrices at `layer` within each unit's images."""
    from cnn_core.explain.activations import ActivationModel

    acts = ActivationModel(engine.trained)
    n, k = images.shape[:2]
    a = acts.layer(images.reshape(n * k, *images.shape[2:]), layer)
    flat = a.reshape(n * k, -1, a.shape[-1])
    gram = np.einsum("npc,npd->ncd", flat, flat).reshape(n, k, -1)
    gram /= np.linalg.norm(gram, axis=2, keepdims=True) + 1e-10
    cos = np.einsum("nip,njp->nij", gram, gram)
    return (cos.sum(axis=(1, 2)) - np.trace(cos, axis1=1, axis2=2)) / (k * (k - 1))


def test_diversity_gives_k_images_per_unit_with_less_alike_gram_matrices(colour):
    objectives = [MapMean("conv3", 7), MapMean("conv3", 20)]
    base = dict(steps=30, parameterization="fourier", images_per_unit=3)
    plain = colour.run(objectives, [0], AscentOptions(**base))
    diverse = colour.run(objectives, [0], AscentOptions(**base, diversity=50.0))
    assert diverse.images.shape == (2, 3, 32, 32, 3)
    assert diverse.activations.shape == (2, 3) and diverse.history.shape == (30, 2, 3)
    assert diverse.probabilities.shape == (2, 3, 6) and len(diverse.descriptions) == 2
    assert np.all(
        gram_cosines(colour, diverse.images, "conv3") < gram_cosines(colour, plain.images, "conv3")
    )
    single = colour.run(objectives, [0], AscentOptions(**base | {"images_per_unit": 1}))
    np.testing.assert_allclose(plain.images[:, 0], single.images, atol=1e-3)
    # a unit's diverse images (their restart at half the steps included) whatever the batch
    alone = colour.run(objectives[1:], [0], AscentOptions(**base, diversity=50.0))
    np.testing.assert_allclose(alone.images[0], diverse.images[1], atol=1e-3)


def test_an_image_left_behind_restarts_from_its_groups_best_and_the_rest_stay():
    from cnn_core.oip.ascent import RESTART_BELOW, RESTART_NOISE, _restart_left_behind

    rng = np.random.default_rng(0)
    params, first, second = (rng.standard_normal((6, 50)).astype(np.float32) for _ in range(3))
    # two groups of 3: image 1 is behind its group's best (image 2), the second group is level
    values = np.array([0.9, RESTART_BELOW - 0.1, 1.0, 0.8, 0.9, 1.0], np.float32)
    state = tuple(tf.constant(a) for a in (params, first, second))
    out = [t.numpy() for t in _restart_left_behind(values, 3, [10, 11, 12, 13, 14, 15], state)]
    np.testing.assert_array_equal(np.delete(out[0], 1, axis=0), np.delete(params, 1, axis=0))
    moved = out[0][1] - params[2]
    assert 0 < np.abs(moved).max() <= 6 * RESTART_NOISE * params[2].std()  # near the best
    np.testing.assert_array_equal(out[1][1], first[2])  # and with the best's Adam moments
    np.testing.assert_array_equal(out[2][1], second[2])
    again = _restart_left_behind(values, 3, [99, 11, 98, 97, 96, 95], state)[0].numpy()
    np.testing.assert_array_equal(again[1], out[0][1])  # the noise is the image's own seed's
    for level in (np.ones(6, np.float32), -np.arange(6, dtype=np.float32)):  # none behind
        assert _restart_left_behind(level, 3, range(6), state) is state


def test_bad_new_options_raise_oip_errors():
    with pytest.raises(OipError, match="parameterization"):
        AscentOptions(parameterization="wavelet")
    with pytest.raises(OipError, match="transforms"):
        AscentOptions(transforms="heavy")
    with pytest.raises(OipError, match="images_per_unit"):
        AscentOptions(images_per_unit=0)
    with pytest.raises(OipError, match="diversity"):
        AscentOptions(diversity=-1.0)


@pytest.mark.parametrize("fill", [0.0, -1.5])
def test_one_draw_for_the_batch_moves_every_image_as_per_image_draws_do(fill):
    # the ascent's path (one (1, 5) draw: a sparse product) against the per-image gathers
    x = tf.constant(np.random.default_rng(5).random((5, 17, 23, 3), np.float32))
    params = tf_random_affine(tf.constant([[3, 4]]), 4.0)
    each = tf.repeat(params, 5, axis=0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        shared_out, each_out = tf_affine_each(x, params, fill), tf_affine_each(x, each, fill)
        weights = tf.constant(np.random.default_rng(6).random((5, 17, 23, 3), np.float32))
        shared_loss = tf.reduce_sum(shared_out * weights)
        each_loss = tf.reduce_sum(each_out * weights)
    np.testing.assert_allclose(shared_out.numpy(), each_out.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(shared_loss, x).numpy(), tape.gradient(each_loss, x).numpy(), atol=1e-5
    )
    assert float(tf.reduce_max(tf.abs(shared_out - x))) > 0.05  # it did move the images
