"""Training timelines: checkpoints written and read back, refused when foreign, OIPs over epochs
as one batched run, and what changes from epoch to epoch."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnn_core import config
from cnn_core.explain.timeline import (
    Timeline,
    TimelineError,
    checkpoint_dir_for,
    epoch_from_name,
    find_checkpoints,
    settling,
)
from cnn_core.model.seed import TrainConfig, save_trained, train
from cnn_core.model.trained import load_trained
from cnn_core.oip import AscentOptions, MapMean, engine_for
from tests.core.test_model import small_data

L = keras.layers


@pytest.fixture(scope="module")
def seed_timeline(trained) -> Timeline:
    """The default model's own checkpoints (written by `make train`; trained here if missing)."""
    folder = checkpoint_dir_for(config.default_model_path())
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing: train the model with `make train`")
    return Timeline.load(folder, trained)


def test_training_writes_a_checkpoint_per_epoch_and_one_before_the_first_step(tmp_path, data):
    subset = small_data(data, 300, 100)
    model = train(subset, TrainConfig(epochs=2))
    path = save_trained(model, tmp_path / "m.keras")
    folder = checkpoint_dir_for(path)
    checkpoints = find_checkpoints(folder)
    assert [c.epoch for c in checkpoints] == [0, 1, 2]
    assert [c.path.name for c in checkpoints] == [
        "epoch_00.keras",
        "epoch_01.keras",
        "epoch_02.keras",
    ]
    history = json.loads(path.with_suffix(".json").read_text())["history"]
    assert [c.metrics["test_accuracy"] for c in checkpoints[1:]] == pytest.approx(
        history["test_accuracy"]
    )
    assert checkpoints[0].metrics["test_accuracy"] < 0.3  # untrained: about chance
    assert not list(tmp_path.glob(".*")), "temporary folders left behind"
    last = keras.saving.load_model(checkpoints[-1].path, compile=False, safe_mode=True)
    x = model.standardize(subset.x_test[:8])
    np.testing.assert_allclose(last(x), model.model(x), atol=1e-6)


def test_epoch_numbers_are_read_from_modelcheckpoint_file_names():
    assert epoch_from_name("epoch_07.keras") == 7
    assert epoch_from_name("model.07-0.45.keras") == 7
    assert epoch_from_name("weights-epoch12-acc0.9.keras") == 12
    assert epoch_from_name("final.keras") is None


def _tiny() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((28, 28, 1)), L.Conv2D(4, 3, activation="relu", name="c"),
         L.Flatten(name="f"), L.Dense(10, activation="softmax", name="o")]
    )  # fmt: skip


def test_a_modelcheckpoint_folder_is_read_and_a_foreign_architecture_refused(tmp_path, data):
    model = _tiny()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    folder = tmp_path / "ck"
    saver = keras.callbacks.ModelCheckpoint(str(folder / "model.{epoch:02d}-{loss:.2f}.keras"))
    x = data.x_train[:64, ..., None].astype("float32") / 255
    model.fit(x, data.y_train[:64], epochs=2, verbose=0, callbacks=[saver])
    final = tmp_path / "final.keras"
    model.save(final)
    reference = load_trained(final)
    timeline = Timeline.load(folder, reference)
    assert timeline.epochs == [1, 2]
    other = keras.Sequential(
        [keras.Input((28, 28, 1)), L.Conv2D(8, 3, name="c"), L.Flatten(), L.Dense(10)]
    )
    other.save(folder / "model.03-0.10.keras")
    with pytest.raises(TimelineError, match=r"model\.03-0\.10\.keras: not the same architecture"):
        Timeline.load(folder, reference)


def test_broken_folders_are_refused_naming_the_file(tmp_path):
    with pytest.raises(TimelineError, match="no such checkpoint folder"):
        find_checkpoints(tmp_path / "nothing")
    (tmp_path / "a.keras").write_bytes(b"x")
    with pytest.raises(TimelineError, match="a.keras: no epoch number"):
        find_checkpoints(tmp_path)


def test_grids_and_confusion_change_between_the_first_and_last_epoch(seed_timeline, trained, data):
    x = trained.standardize(data.x_test)
    first, last = 0, len(seed_timeline.models) - 1
    a = seed_timeline.activation_model(first).layer(x[:1], "Conv2D_1")
    b = seed_timeline.activation_model(last).layer(x[:1], "Conv2D_1")
    assert not np.allclose(a, b)
    cm_first = seed_timeline.confusion(first, x, data.y_test)
    cm_last = seed_timeline.confusion(last, x, data.y_test)
    assert cm_first.sum() == cm_last.sum() == len(x)
    assert np.trace(cm_last) > np.trace(cm_first) + 500
    curve = seed_timeline.accuracy_curve(x, data.y_test)
    assert len(curve) == 21 and curve[0] < 0.3 and curve[-1] >= 0.97


def test_oips_over_all_epochs_are_one_batched_run(seed_timeline):
    # epochs 0, 10 and 20 (building the engine over all 21 takes ~20 s: bench/timeline.py)
    picked = Timeline(
        seed_timeline.reference, seed_timeline.checkpoints[::10], seed_timeline.models[::10]
    )
    units = [0, 5, 17]
    result = picked.oips("Conv2D_3", units, steps=20)
    engine = picked.oip_engine()
    assert engine.tracing_count() == 1  # one traced ascent for every epoch at once
    epochs = len(picked.models)
    assert result.images.shape == (epochs * len(units), 28, 28)
    assert result.descriptions[: len(units)] == [f"Conv2D_3 map {u}" for u in units]
    # the last epoch's OIPs are those of the final model run alone
    single = engine_for(picked.reference).run(
        [MapMean("Conv2D_3", u) for u in units], [0], AscentOptions(steps=20)
    )
    np.testing.assert_allclose(result.images[-len(units) :], single.images, atol=1e-4)
    closeness = settling(result.images, epochs)
    assert closeness.shape == (len(units), epochs)
    np.testing.assert_allclose(closeness[:, -1], 1.0, atol=1e-6)
