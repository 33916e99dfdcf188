"""ActivationModel: every layer in one call, equal to per-layer sub-models, thread-safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest

from cnn_core.explain.activations import UnknownLayerError


def test_every_layer_matches_a_per_layer_submodel(trained, acts, data):
    x = trained.standardize(data.x_test[:4])
    got = acts.activations(x)
    desc = trained.desc
    assert tuple(got) == desc.names
    for name in desc.names:
        output = trained.model.get_layer(desc.layer(name).output_layer).output
        sub = keras.Model(trained.model.input, output)
        expected = np.asarray(sub(x, training=False))
        assert got[name].shape == expected.shape
        np.testing.assert_allclose(got[name], expected, rtol=1e-5, atol=1e-5, err_msg=name)


def test_predict_proba_is_the_softmax_output(trained, acts, data):
    x = trained.standardize(data.x_test[:16])
    probs = acts.predict_proba(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(acts.predict_proba_batched(x, batch_size=5), probs, atol=1e-6)


def test_probabilities_from_the_activations_are_predict_proba(trained, acts, data):
    x = trained.standardize(data.x_test[:32])
    from_activations = acts.probabilities(acts.activations(x))
    assert from_activations.dtype == np.float32 and from_activations.shape == (32, 10)
    np.testing.assert_allclose(from_activations, acts.predict_proba(x), atol=1e-6)


def test_eight_threads_give_the_same_results_as_serial_calls(trained, acts, data):
    xs = [trained.standardize(data.x_test[i : i + 1 + i % 3]) for i in range(32)]
    serial = [acts.activations(x) for x in xs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(acts.activations, xs))
    for one, other in zip(serial, parallel, strict=True):
        for name in trained.desc.names:
            np.testing.assert_array_equal(one[name], other[name])


def test_unknown_layer_is_a_clear_error(acts, trained, data):
    with pytest.raises(UnknownLayerError, match="unknown layer 'Conv9'.*Conv2D_1"):
        acts.layer(trained.standardize(data.x_test[:1]), "Conv9")


def test_wrong_input_shape_is_refused(acts):
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        acts.activations(np.zeros((1, 28, 28), np.float32))
