"""The app's services load any model with its own data (the colour example), evaluated at start."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from app.services import Services
from cnn_core.data.sources import DataError, save_dataset


def test_colour_model_is_served_with_its_own_data_evaluated_at_start(shapes_path, caplog):
    with caplog.at_level(logging.INFO, logger="app.services"):
        services = Services.load(model_path=str(shapes_path))
    assert services.desc.input_shape == (32, 32, 3)
    assert services.x_std["test"].shape == (600, 32, 32, 3)
    assert services.confusion.shape == (6, 6) and services.confusion.sum() == 600
    assert services.test_accuracy >= 0.95
    assert services.test_accuracy == pytest.approx(np.trace(services.confusion) / 600)
    assert services.compare_pair[0] != services.compare_pair[1]
    text = caplog.text
    assert "evaluating shapes_cnn on 600 test images" in text and "test accuracy" in text
    # pixel statistics come from its data (no normalization in its sidecar)
    assert services.trained.pixel_stats == pytest.approx(
        (services.data.x_train.mean(), services.data.x_train.std()), rel=1e-6
    )


def test_seed_services_open_compare_with_four_and_nine(services):
    assert services.compare_pair == (4, 9)
    assert services.test_accuracy == pytest.approx(services.trained.meta["test_accuracy"])


def test_a_model_shown_with_data_of_another_size_is_refused(shapes_path, data, tmp_path):
    mnist = save_dataset(data, tmp_path / "mnist.npz")  # 28x28 grey digits for a 32x32x3 model
    with pytest.raises(DataError, match=r"\(28, 28, 1\) .*model takes \(32, 32, 3\)"):
        Services.load(model_path=str(shapes_path), data_source=str(mnist))


def test_a_legacy_h5_model_without_sidecar_is_served_with_the_class_names_of_its_data(
    residual_path, tmp_path
):
    import keras

    path = tmp_path / "plain.h5"  # a plain model.save(), legacy format, no sidecar beside it
    keras.saving.load_model(residual_path, compile=False).save(path)
    services = Services.load(
        model_path=str(path), data_source=str(residual_path.with_suffix(".npz"))
    )
    assert services.trained.meta == {}
    assert services.desc.class_names[0] == "red disc" and services.desc.nested == ("residual_base",)
    assert services.test_accuracy >= 0.95


def test_a_model_without_sidecar_and_without_data_is_served_alone(residual_path, tmp_path, caplog):
    import shutil

    path = tmp_path / "model.keras"  # a plain model.save(): no sidecar, so no data file named
    shutil.copy(residual_path, path)
    with caplog.at_level(logging.INFO, logger="app.services"):
        services = Services.load(model_path=str(path))
    assert not services.has_data and services.data.source == "no data set"
    assert services.x_std["test"].shape == (0, 32, 32, 3)
    assert services.proba["test"].shape == (0, 6) and np.isnan(services.test_accuracy)
    assert services.unit_table("test", "residual_base/stage2_add").shape == (0, 32)
    assert "served alone" in caplog.text


def test_an_epoch_checkpoint_folder_without_sidecars_is_a_timeline(residual_path, tmp_path):
    """Keras `ModelCheckpoint` files (`epoch_01.keras`, ...) and a final model, none with a
    sidecar, shown with the model's data: the timeline has every epoch."""
    import keras

    from cnn_core.data.sources import load_dataset

    model = keras.saving.load_model(residual_path, compile=False)
    data = load_dataset(residual_path.with_suffix(".npz"))
    folder = tmp_path / "ckpt"
    folder.mkdir()
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = keras.callbacks.ModelCheckpoint(str(folder / "epoch_{epoch:02d}.keras"))
    x = data.x_train[:64].astype("float32")
    model.fit(x, data.y_train[:64], epochs=2, batch_size=32, verbose=0, callbacks=[callback])
    final = tmp_path / "final.keras"
    model.save(final)
    services = Services.load(
        model_path=str(final), data_source=str(residual_path.with_suffix(".npz"))
    )
    import os

    os.environ["CNN_LENS_CHECKPOINTS"] = str(folder)
    try:
        timeline = services.timeline()
    finally:
        del os.environ["CNN_LENS_CHECKPOINTS"]
    assert timeline is not None and len(timeline.models) == 2
