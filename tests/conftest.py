"""Shared fixtures: the real embedded MNIST subset and the real trained model."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cnn_core import config
from cnn_core.data import MnistData


@pytest.fixture(scope="session")
def data() -> MnistData:
    """The embedded subset (4,000 train / 1,000 test), whatever CNN_LENS_DATA says."""
    from cnn_core.data import load_embedded

    return load_embedded()


@pytest.fixture(scope="session")
def trained(data):
    """The default trained model (`models/cnn.keras`); trained once here if it does not exist."""
    from cnn_core.model import load_trained, save_trained, train

    path = config.default_model_path()
    if not path.exists():
        save_trained(train(data), path)
    return load_trained(path)


@pytest.fixture(scope="session")
def shapes_path():
    """`models/shapes.keras` with `shapes.npz` and `shapes.json`; trained once here if missing."""
    from cnn_core.shapes import save_shapes, shapes_dataset, shapes_files, train_shapes

    path = config.shapes_model_path()
    if not all(file.exists() for file in shapes_files(path)):
        data = shapes_dataset()
        model, meta = train_shapes(data)
        save_shapes(model, meta, data, path)
    return path


@pytest.fixture(scope="session")
def shapes_model(shapes_path):
    """The colour example's Keras model: `(N, 32, 32, 3)` raw pixels 0-255 -> `(N, 6)` softmax."""
    import keras

    return keras.saving.load_model(shapes_path, compile=False, safe_mode=True)


@pytest.fixture(scope="session")
def shapes_data(shapes_path):
    """The colour example's data as shipped beside the model (`shapes.npz`, via load_dataset)."""
    from cnn_core.data import load_dataset

    return load_dataset(shapes_path.with_suffix(".npz"))


@pytest.fixture(scope="session")
def acts(trained):
    from cnn_core.activations import ActivationModel

    return ActivationModel(trained)


@pytest.fixture(scope="session")
def services(data, trained, acts):
    """The app's services, loaded once for the whole session (the app's own loader)."""
    from app.services import Services, set_services

    services = Services.load()
    set_services(services)
    return services
